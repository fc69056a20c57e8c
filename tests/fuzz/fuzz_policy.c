/* fuzz_policy.c: the policy reader on arbitrary bytes, then every rule it accepts
 * evaluated on a few fixed entities (so hostile conditions and patterns reach the
 * matchers too).
 *
 * Includes are served from the input itself under whatever name they ask for, so include
 * chains, cycles and the depth and file caps are exercised without touching the disk.
 * A refused policy must leave *out NULL and say why; an accepted one must evaluate every
 * rule to one of the four states without crashing or hanging. */
#include "policy.h"
#include "report_json.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct input {
    const uint8_t *data;
    size_t size;
} input;

static mf_code same_input(void *ctx, const char *path, char **out, size_t *len, char **canon,
                          mf_error *err)
{
    const input *in = ctx;
    *out = malloc(in->size + 1);
    *canon = mf_strdup(path);
    if (!*out || !*canon) {
        free(*out);
        free(*canon);
        *out = *canon = NULL;
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    memcpy(*out, in->data, in->size);
    (*out)[in->size] = '\0';
    *len = in->size;
    return MF_OK;
}

/* A report with a little of everything: a good server, a plain-text one whose probe
 * timed out, a provider-managed one, a dangling account, a failed source. */
static const char REPORT[] =
    "{\"schema\": \"mailfleet.report.v1\", \"report_id\": \"00000000-0000-4000-8000-000000000001\","
    " \"collected_at\": \"2026-11-29T10:00:00Z\", \"agent\": {\"version\": \"0.1.0\"},"
    " \"host\": {\"id\": \"C1\", \"hostname\": \"mac\", \"os\": {\"name\": \"macOS\", \"version\": "
    "\"14\"}},"
    " \"sources\": [{\"user\": \"a\", \"client\": \"apple-mail\", \"format\": \"f\", \"path\": "
    "\"/p\","
    "  \"status\": \"ok\"}, {\"user\": \"a\", \"client\": \"thunderbird\", \"format\": "
    "\"prefs-js\","
    "  \"path\": \"/q\", \"status\": \"malformed\", \"error\": \"x\"}],"
    " \"servers\": [{\"id\": \"s1\", \"user\": \"a\", \"client\": \"apple-mail\", \"source\": 0,"
    "  \"hostname\": \"smtp.example.com\", \"port\": 587, \"security\": \"starttls\", \"auth\": "
    "\"password\","
    "  \"username\": \"a@example.com\", \"used_by\": [\"a1\"]},"
    "  {\"id\": \"s2\", \"user\": \"a\", \"client\": \"apple-mail\", \"source\": 0, \"hostname\": "
    "\"old.example\","
    "  \"port\": 25, \"security\": \"none\", \"auth\": \"password\", \"flags\": [\"unused\", "
    "\"plaintext\"]},"
    "  {\"id\": \"s3\", \"user\": \"a\", \"client\": \"apple-mail\", \"source\": 0, \"hostname\": "
    "null,"
    "  \"provider\": \"icloud\", \"port\": null, \"security\": \"tls\", \"auth\": \"apple-token\", "
    "\"used_by\": [\"a2\"]}],"
    " \"accounts\": [{\"id\": \"a1\", \"client\": \"apple-mail\", \"source\": 0, \"emails\": "
    "[\"a@example.com\"],"
    "  \"smtp\": \"s1\"}, {\"id\": \"a2\", \"client\": \"apple-mail\", \"source\": 0, \"type\": "
    "\"icloud\","
    "  \"smtp\": \"s3\"}, {\"id\": \"a3\", \"client\": \"apple-mail\", \"source\": 0, "
    "\"smtp_ref\": \"X\","
    "  \"flags\": [\"dangling\"]}],"
    " \"probes\": [{\"hostname\": \"smtp.example.com\", \"port\": 587, \"security\": \"starttls\","
    "  \"servers\": [\"s1\"], \"outcome\": \"ok\", \"phases\": {\"dns_ms\": 1}, \"banner\": \"220 "
    "x\","
    "  \"ehlo\": [\"STARTTLS\"], \"ehlo_tls\": [\"AUTH PLAIN\"], \"starttls_offered\": true, "
    "\"auth\": [\"PLAIN\"],"
    "  \"tls\": {\"version\": \"TLSv1.3\", \"verified\": true, \"hostname_match\": true, \"cert\":"
    "  {\"subject\": \"CN=smtp.example.com\", \"san\": [\"smtp.example.com\"], \"days_left\": "
    "40}}},"
    "  {\"hostname\": \"old.example\", \"port\": 25, \"security\": \"none\", \"servers\": [\"s2\"],"
    "  \"outcome\": \"connect-timeout\", \"phase\": \"connect\"},"
    "  {\"hostname\": null, \"port\": 0, \"security\": \"tls\", \"servers\": [\"s3\"], "
    "\"outcome\": \"skipped\"}]}";

static void die(const char *what)
{
    fprintf(stderr, "fuzz_policy: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mf_report *report;
    static mf_fleet *fleet;
    if (!report) {
        if (mf_report_decode(&report, REPORT, strlen(REPORT), NULL) != MF_OK)
            die("the built-in report does not decode");
        if (mf_fleet_new(&fleet, 0) != MF_OK ||
            mf_fleet_add_history(fleet, report, NULL) != MF_OK ||
            mf_fleet_add_latest(fleet, report, NULL) != MF_OK)
            die("fleet");
    }
    input in = {data, size};
    mf_policy_loader loader = {same_input, &in};
    mf_policy *p = NULL;
    mf_error err;
    mf_code rc = mf_policy_parse(&p, (const char *)data, size, "fuzz/policy.json", &loader, &err);
    if (rc != MF_OK) {
        if (p)
            die("a refused policy left *out set");
        if (err.code != rc || err.text[0] == '\0')
            die("a refused policy has no error text");
        return 0;
    }
    if (p->nrules > MF_POLICY_MAX_RULES || p->nfiles > MF_POLICY_MAX_FILES)
        die("a cap was exceeded");
    mf_host_facts *hf = NULL;
    if (mf_host_facts_build(&hf, report, &p->mask, 1796083200, NULL) != MF_OK)
        die("facts");
    char msg[768];
    for (size_t k = 0; k < p->nrules; k++) {
        const mf_rule *r = &p->rules[k];
        if (r->scope == MF_SCOPE_FLEET_SERVER) {
            for (size_t i = 0; i < mf_fleet_count(fleet); i++) {
                json_t *o = NULL;
                mf_entity ent;
                if (mf_fleet_facts(fleet, i, &p->mask, 1796083200, &o, &ent, NULL) != MF_OK)
                    die("fleet facts");
                mf_facts f;
                memset(&f, 0, sizeof(f));
                f.root[MF_ROOT_FLEET_SERVER] = o;
                mf_rule_state s = mf_rule_eval(r, &f, msg, sizeof(msg));
                json_decref(o);
                if (s > MF_RULE_NOTAPPLICABLE || msg[0] == '\0')
                    die("bad state or empty message");
            }
            continue;
        }
        for (size_t i = 0; i < mf_host_facts_count(hf, r->scope); i++) {
            mf_facts f;
            mf_entity ent;
            mf_host_facts_get(hf, r->scope, i, &f, &ent);
            mf_rule_state s = mf_rule_eval(r, &f, msg, sizeof(msg));
            if (s > MF_RULE_NOTAPPLICABLE || msg[0] == '\0')
                die("bad state or empty message");
        }
    }
    mf_host_facts_free(hf);
    mf_policy_free(p);
    return 0;
}
