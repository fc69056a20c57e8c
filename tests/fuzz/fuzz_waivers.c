/* fuzz_waivers.c: the waivers reader on arbitrary bytes. A refused file must leave
 * *out NULL and say why (with a position: line or field); an accepted one is bound to a
 * fixed policy at two dates and matched against a few entities. */
#include "policy.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char POLICY[] =
    "{\"schema\": \"mailfleet.policy.v1\", \"id\": \"p\", \"title\": \"T\", \"version\": \"1\","
    " \"rules\": [{\"id\": \"tls-required\", \"title\": \"t\", \"severity\": \"high\", \"scope\": "
    "\"server\","
    " \"expect\": {\"path\": \"server.port\", \"op\": \"exists\"}, \"description\": \"d\", "
    "\"rationale\": \"r\","
    " \"remediation\": {\"user\": \"u\", \"admin\": \"a\"}}, {\"id\": \"stale-unused\", \"title\": "
    "\"t\","
    " \"severity\": \"low\", \"scope\": \"fleet-server\", \"expect\": {\"path\": "
    "\"fleet_server.used\","
    " \"op\": \"eq\", \"value\": true}, \"description\": \"d\", \"rationale\": \"r\","
    " \"remediation\": {\"user\": \"u\", \"admin\": \"a\"}}]}";

static void die(const char *what)
{
    fprintf(stderr, "fuzz_waivers: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mf_policy *policy;
    if (!policy && mf_policy_parse(&policy, POLICY, strlen(POLICY), "p.json", NULL, NULL) != MF_OK)
        die("the built-in policy does not load");
    mf_waivers *w = NULL;
    mf_error err;
    mf_code rc = mf_waivers_parse(&w, (const char *)data, size, "fuzz.json", &err);
    if (rc != MF_OK) {
        if (w)
            die("a refused file left *out set");
        if (err.code != rc || err.text[0] == '\0' || strcmp(err.file, "fuzz.json") != 0)
            die("a refused file has no error text or file");
        if (rc == MF_ERR_INVALID && err.field[0] == '\0' && err.line == 0)
            die("an invalid file has no position");
        return 0;
    }
    static const int64_t dates[] = {0, 1796083200, 253402300799LL};
    mf_entity ents[] = {
        {.label = "s1", .server = "smtp.example.com:587", .server_host = "smtp.example.com"},
        {.label = "h"},
        {.label = "provider:icloud",
         .server = "provider:icloud",
         .server_host = "provider:icloud"}};
    for (size_t d = 0; d < sizeof(dates) / sizeof(dates[0]); d++) {
        if (mf_waivers_bind(w, policy, dates[d], NULL) != MF_OK)
            die("bind");
        for (size_t r = 0; r < policy->nrules; r++)
            for (size_t e = 0; e < sizeof(ents) / sizeof(ents[0]); e++) {
                mf_waiver *expired = NULL;
                mf_waiver *hit = mf_waivers_match(w, r, e == 2 ? NULL : "C02AB", "alice-mbp",
                                                  &ents[e], &expired);
                if (hit &&
                    (hit->status != MF_WAIVER_ACTIVE || strcmp(hit->rule, policy->rules[r].id)))
                    die("matched a waiver that does not apply");
                if (expired && expired->status != MF_WAIVER_EXPIRED)
                    die("an expired match that is not expired");
            }
    }
    mf_waivers_free(w);
    return 0;
}
