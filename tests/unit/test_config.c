/* test_config.c: agent/config.c — the agent's layered configuration. Every key in both
 * formats, every kind of refusal (with file, key and reason), and the precedence
 * defaults < base file < managed preferences < --config < flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "config_paths.h"
#include "fileio.h"

#include <plist/plist.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    mf_strlcpy(tmpdir, "/tmp/mf-test-config-XXXXXX", sizeof(tmpdir));
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = mf_asprintf("rm -rf '%s'", tmpdir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

static char *write_file(const char *name, const char *text, size_t len)
{
    char *p = mf_path_join(tmpdir, name);
    assert_non_null(p);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    return p;
}

/* Apply text (JSON or plist) over a fresh default configuration. */
static mf_code apply(mf_agent_config *c, const char *text, mf_error *err)
{
    assert_int_equal(mf_agent_config_init(c), MF_OK);
    mf_error_clear(err);
    return mf_agent_config_apply_buffer(c, "test.conf", text, strlen(text), err);
}

static void expect_refused(const char *text, const char *key, const char *reason)
{
    mf_agent_config c;
    mf_error err;
    mf_code rc = apply(&c, text, &err);
    if (rc != MF_ERR_CONFIG || strcmp(err.field, key) != 0 || !strstr(err.text, reason)) {
        print_error("config %s: got code %d field \"%s\" text \"%s\", expected %s / %s\n", text, rc,
                    err.field, err.text, key, reason);
        fail();
    }
    assert_string_equal(err.file, "test.conf");
    mf_agent_config_free(&c);
}

static void test_defaults(void **state)
{
    (void)state;
    mf_agent_config c;
    assert_int_equal(mf_agent_config_init(&c), MF_OK);
    assert_null(c.collector_host);
    assert_int_equal(c.collector_port, 22);
    assert_string_equal(c.collector_user, "mailfleet");
    assert_string_equal(c.identity, mf_config_default_identity());
    assert_string_equal(c.known_hosts, mf_config_default_known_hosts());
    assert_string_equal(c.outbox, mf_config_default_outbox());
    assert_int_equal(c.outbox_max_reports, 100);
    assert_int_equal(c.outbox_max_bytes, 20 * 1024 * 1024);
    assert_int_equal(c.ssh_timeout_s, 30);
    assert_int_equal(c.retry_min_s, 60);
    assert_int_equal(c.retry_max_s, 3600);
    assert_int_equal(c.probe_timeout_s, 20);
    assert_int_equal(c.probe_concurrency, 16);
    assert_null(c.ca_file);
    assert_false(c.no_probe);
    assert_int_equal(c.privacy, MF_PRIVACY_CLEAR);
    assert_int_equal(c.fleet_key_len, 0);
    assert_null(c.origin[MF_CFG_COLLECTOR_HOST]);
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_agent_config_check(&c, &err), MF_OK);
    mf_agent_config_free(&c);
    mf_agent_config_free(NULL);
}

static const char full_json[] = "{\n"
                                "  \"collector_host\": \"collector.example.com\",\n"
                                "  \"collector_port\": 2222,\n"
                                "  \"collector_user\": \"mf-agent\",\n"
                                "  \"identity\": \"keys/id_ed25519\",\n"
                                "  \"known_hosts\": \"/etc/mf/known_hosts\",\n"
                                "  \"outbox\": \"/var/mf/outbox\",\n"
                                "  \"outbox_max_reports\": 7,\n"
                                "  \"outbox_max_bytes\": 1048576,\n"
                                "  \"ssh_timeout\": 9,\n"
                                "  \"retry_min\": 10,\n"
                                "  \"retry_max\": 100,\n"
                                "  \"probe_timeout\": 5,\n"
                                "  \"probe_concurrency\": 3,\n"
                                "  \"ca_file\": \"/etc/ssl/ca.pem\",\n"
                                "  \"no_probe\": true,\n"
                                "  \"privacy\": \"pseudonymise\",\n"
                                "  \"fleet_key\": \"000102030405060708090a0b0c0d0e0f\",\n"
                                "  \"pseudonymise_hostname\": true,\n"
                                "  \"PayloadUUID\": \"ignored: MDM wrappers are not ours\"\n"
                                "}\n";

static void check_full(const mf_agent_config *c, const char *origin)
{
    assert_string_equal(c->collector_host, "collector.example.com");
    assert_int_equal(c->collector_port, 2222);
    assert_string_equal(c->collector_user, "mf-agent");
    assert_string_equal(c->known_hosts, "/etc/mf/known_hosts");
    assert_string_equal(c->outbox, "/var/mf/outbox");
    assert_int_equal(c->outbox_max_reports, 7);
    assert_int_equal(c->outbox_max_bytes, 1048576);
    assert_int_equal(c->ssh_timeout_s, 9);
    assert_int_equal(c->retry_min_s, 10);
    assert_int_equal(c->retry_max_s, 100);
    assert_int_equal(c->probe_timeout_s, 5);
    assert_int_equal(c->probe_concurrency, 3);
    assert_string_equal(c->ca_file, "/etc/ssl/ca.pem");
    assert_true(c->no_probe);
    assert_int_equal(c->privacy, MF_PRIVACY_PSEUDONYMISE);
    assert_int_equal(c->fleet_key_len, 16);
    for (int i = 0; i < 16; i++)
        assert_int_equal(c->fleet_key[i], i);
    assert_true(c->pseudonymise_hostname);
    assert_string_equal(c->origin[MF_CFG_COLLECTOR_PORT], origin);
    assert_string_equal(c->origin[MF_CFG_FLEET_KEY], origin);
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_agent_config_check(c, &err), MF_OK);
}

static void test_json_every_key(void **state)
{
    (void)state;
    char *path = write_file("full.json", full_json, strlen(full_json));
    mf_agent_config c;
    assert_int_equal(mf_agent_config_init(&c), MF_OK);
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_agent_config_apply_file(&c, path, &err), MF_OK);
    check_full(&c, path);
    /* A relative path is taken from the file's folder. */
    char *want = mf_asprintf("%s/keys/id_ed25519", tmpdir);
    assert_string_equal(c.identity, want);
    free(want);
    mf_agent_config_free(&c);
    free(path);
}

/* The same settings as a property list, XML and binary: the same result. */
static void test_plist_every_key(void **state)
{
    (void)state;
    plist_t d = plist_new_dict();
    plist_dict_set_item(d, "collector_host", plist_new_string("collector.example.com"));
    plist_dict_set_item(d, "collector_port", plist_new_uint(2222));
    plist_dict_set_item(d, "collector_user", plist_new_string("mf-agent"));
    plist_dict_set_item(d, "identity", plist_new_string("/k/id"));
    plist_dict_set_item(d, "known_hosts", plist_new_string("/etc/mf/known_hosts"));
    plist_dict_set_item(d, "outbox", plist_new_string("/var/mf/outbox"));
    plist_dict_set_item(d, "outbox_max_reports", plist_new_uint(7));
    plist_dict_set_item(d, "outbox_max_bytes", plist_new_uint(1048576));
    plist_dict_set_item(d, "ssh_timeout", plist_new_uint(9));
    plist_dict_set_item(d, "retry_min", plist_new_uint(10));
    plist_dict_set_item(d, "retry_max", plist_new_uint(100));
    plist_dict_set_item(d, "probe_timeout", plist_new_uint(5));
    plist_dict_set_item(d, "probe_concurrency", plist_new_uint(3));
    plist_dict_set_item(d, "ca_file", plist_new_string("/etc/ssl/ca.pem"));
    plist_dict_set_item(d, "no_probe", plist_new_bool(1));
    plist_dict_set_item(d, "privacy", plist_new_string("pseudonymize"));
    /* base64 of bytes 0..15 */
    plist_dict_set_item(d, "fleet_key", plist_new_string("AAECAwQFBgcICQoLDA0ODw=="));
    plist_dict_set_item(d, "pseudonymise_hostname", plist_new_bool(1));
    plist_dict_set_item(d, "PayloadIdentifier", plist_new_string("org.mailfleet.agent"));
    char *xml = NULL, *bin = NULL;
    uint32_t xlen = 0, blen = 0;
    plist_to_xml(d, &xml, &xlen);
    plist_to_bin(d, &bin, &blen);
    plist_free(d);
    assert_non_null(xml);
    assert_non_null(bin);
    char *px = write_file("full.plist", xml, xlen);
    char *pb = write_file("full.bplist", bin, blen);
    const char *paths[] = {px, pb};
    for (size_t i = 0; i < 2; i++) {
        mf_agent_config c;
        assert_int_equal(mf_agent_config_init(&c), MF_OK);
        mf_error err;
        mf_error_clear(&err);
        assert_int_equal(mf_agent_config_apply_file(&c, paths[i], &err), MF_OK);
        check_full(&c, paths[i]);
        assert_string_equal(c.identity, "/k/id");
        mf_agent_config_free(&c);
    }
    free(px);
    free(pb);
    free(xml);
    free(bin);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_refused("{\"colector_host\": \"x\"}", "colector_host",
                   "unknown key (did you mean \"collector_host\"?)");
    expect_refused("{\"frobnicate\": 1}", "frobnicate", "unknown key");
    expect_refused("{\"collector_port\": \"22\"}", "collector_port",
                   "wrong type: expected an integer, got a string");
    expect_refused("{\"collector_port\": 22.5}", "collector_port", "got a real number");
    expect_refused("{\"collector_port\": 0}", "collector_port",
                   "out of range: 0 is not between 1 and 65535");
    expect_refused("{\"collector_port\": 65536}", "collector_port", "out of range");
    expect_refused("{\"outbox_max_reports\": -1}", "outbox_max_reports", "out of range");
    expect_refused("{\"outbox_max_bytes\": 1000}", "outbox_max_bytes", "out of range");
    expect_refused("{\"ssh_timeout\": 0}", "ssh_timeout", "out of range");
    expect_refused("{\"no_probe\": \"yes\"}", "no_probe", "wrong type: expected a boolean");
    expect_refused("{\"no_probe\": 1}", "no_probe", "wrong type");
    expect_refused("{\"identity\": 5}", "identity",
                   "wrong type: expected a string, got an integer");
    expect_refused("{\"identity\": \"\"}", "identity", "bad value: empty");
    expect_refused("{\"outbox\": [\"/a\"]}", "outbox", "got an array");
    expect_refused("{\"collector_host\": \"bad host\"}", "collector_host", "not a host name");
    expect_refused("{\"collector_user\": \"a@b\"}", "collector_user", "not a user name");
    expect_refused("{\"collector\": \"u@h:99999\"}", "collector", "port");
    expect_refused("{\"collector\": \"u@::1\"}", "collector", "brackets");
    expect_refused("{\"collector\": \"u@h\", \"collector_user\": \"v\"}", "collector_user",
                   "conflict");
    expect_refused("{\"collector_port\": 2, \"collector\": \"h:3\"}", "collector", "conflict");
    expect_refused("{\"privacy\": \"hide\"}", "privacy", "expected \"clear\" or \"pseudonymise\"");
    expect_refused("{\"fleet_key\": \"abcd\"}", "fleet_key", "at least 16 bytes");
    expect_refused("{\"fleet_key\": \"not base64 !!\"}", "fleet_key", "neither hex nor base64");
    expect_refused("{\"fleet_key\": \"00112233445566778899aabbccddeeff\", \"fleet_key_file\": "
                   "\"/k\"}",
                   "fleet_key_file", "conflict");
    expect_refused("{\"fleet_key_file\": \"/nonexistent/mf/key\"}", "fleet_key_file",
                   "cannot read the key file");

    /* Whole-file problems: no key, but the file and a position or reason. */
    mf_agent_config c;
    mf_error err;
    assert_int_equal(apply(&c, "{\"a\": 1,\n \"a\": 2}", &err), MF_ERR_CONFIG);
    assert_string_equal(err.file, "test.conf");
    assert_true(strstr(err.text, "not valid JSON"));
    assert_int_equal(err.line, 2);
    mf_agent_config_free(&c);
    /* A NUL inside a string never reaches a path (Jansson refuses it). */
    assert_int_equal(apply(&c, "{\"identity\": \"a\\u0000b\"}", &err), MF_ERR_CONFIG);
    mf_agent_config_free(&c);
    assert_int_equal(apply(&c, "{\"collector\": ", &err), MF_ERR_CONFIG);
    assert_true(strstr(err.text, "not valid JSON"));
    mf_agent_config_free(&c);
    assert_int_equal(apply(&c, "collector = x", &err), MF_ERR_CONFIG);
    assert_true(strstr(err.text, "neither a JSON object nor a property list"));
    mf_agent_config_free(&c);
    assert_int_equal(apply(&c, "<plist><array/></plist>", &err), MF_ERR_CONFIG);
    assert_true(strstr(err.text, "top level must be a dict"));
    mf_agent_config_free(&c);
    assert_int_equal(apply(&c, "<plist><dict><key>x</key></plist>", &err), MF_ERR_CONFIG);
    mf_agent_config_free(&c);
    assert_int_equal(
        apply(&c, "<plist><dict><key>ssh_timeout</key><real>1.5</real></dict></plist>", &err),
        MF_ERR_CONFIG);
    assert_string_equal(err.field, "ssh_timeout");
    assert_true(strstr(err.text, "got a real"));
    mf_agent_config_free(&c);
    assert_int_equal(
        apply(&c, "<plist><dict><key>outbox</key><data>AAAA</data></dict></plist>", &err),
        MF_ERR_CONFIG);
    assert_true(strstr(err.text, "expected a string, got data"));
    mf_agent_config_free(&c);
    /* A missing file keeps its own code (callers decide whether it matters). */
    mf_agent_config_init(&c);
    mf_error_clear(&err);
    assert_int_equal(mf_agent_config_apply_file(&c, "/nonexistent/mf.json", &err), MF_ERR_NOTFOUND);
    assert_string_equal(err.file, "/nonexistent/mf.json");
    mf_agent_config_free(&c);
}

static void test_cross_checks(void **state)
{
    (void)state;
    mf_agent_config c;
    mf_error err;
    assert_int_equal(apply(&c, "{\"privacy\": \"pseudonymise\"}", &err), MF_OK);
    assert_int_equal(mf_agent_config_check(&c, &err), MF_ERR_CONFIG);
    assert_string_equal(err.field, "privacy");
    assert_string_equal(err.file, "test.conf");
    assert_true(strstr(err.text, "needs a fleet key"));
    mf_agent_config_free(&c);
    assert_int_equal(apply(&c, "{\"retry_min\": 500, \"retry_max\": 100}", &err), MF_OK);
    assert_int_equal(mf_agent_config_check(&c, &err), MF_ERR_CONFIG);
    assert_string_equal(err.field, "retry_min");
    mf_agent_config_free(&c);
    /* The key may come from a file; white space around it is fine. */
    char *kf = write_file("fleet.key", "  AAECAwQFBgcICQoLDA0ODxAREhM=\n", 31);
    char *json = mf_asprintf("{\"privacy\": \"pseudonymise\", \"fleet_key_file\": \"%s\"}", kf);
    assert_int_equal(apply(&c, json, &err), MF_OK);
    assert_int_equal(mf_agent_config_check(&c, &err), MF_OK);
    assert_int_equal(c.fleet_key_len, 20);
    assert_int_equal(c.fleet_key[19], 19);
    mf_agent_config_free(&c);
    free(json);
    free(kf);
}

static void test_parse_collector(void **state)
{
    (void)state;
    char *u, *h;
    int p;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_config_parse_collector(&u, &h, &p, "mf@c.example.com:2222", &err), MF_OK);
    assert_string_equal(u, "mf");
    assert_string_equal(h, "c.example.com");
    assert_int_equal(p, 2222);
    free(u);
    free(h);
    assert_int_equal(mf_config_parse_collector(&u, &h, &p, "c.example.com", &err), MF_OK);
    assert_null(u);
    assert_string_equal(h, "c.example.com");
    assert_int_equal(p, 0);
    free(h);
    assert_int_equal(mf_config_parse_collector(&u, &h, &p, "a@[2001:db8::1]:22", &err), MF_OK);
    assert_string_equal(h, "2001:db8::1");
    assert_int_equal(p, 22);
    free(u);
    free(h);
    assert_int_equal(mf_config_parse_collector(&u, &h, &p, "[::1]", &err), MF_OK);
    assert_string_equal(h, "::1");
    free(h);
    const char *bad[] = {"",       "@h",       "u@",    "u@h:",  "u@h:0", "u@h:x", "u@[::1",
                         "u@[]:2", "u@[::1]x", "u v@h", "u@h\n", "u@-h",  "u@h@i", "::1"};
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++) {
        mf_error_clear(&err);
        if (mf_config_parse_collector(&u, &h, &p, bad[i], &err) != MF_ERR_CONFIG) {
            print_error("\"%s\" was accepted\n", bad[i]);
            fail();
        }
        assert_null(u);
        assert_null(h);
        assert_true(err.text[0] != '\0');
    }
}

static void test_decode_key(void **state)
{
    (void)state;
    unsigned char k[MF_FLEET_KEY_MAX];
    size_t n;
    mf_error err;
    mf_error_clear(&err);
    /* hex wins when the text is only hex digits */
    assert_int_equal(mf_config_decode_key(k, &n, "00FF00ff00ff00ff00ff00ff00ff00ff", 32, &err),
                     MF_OK);
    assert_int_equal(n, 16);
    assert_int_equal(k[1], 0xff);
    /* base64, standard and URL-safe, with and without padding */
    assert_int_equal(mf_config_decode_key(k, &n, "+/+/+/+/+/+/+/+/+/+/+w==", 24, &err), MF_OK);
    assert_int_equal(n, 16);
    assert_int_equal(k[0], 0xfb);
    assert_int_equal(mf_config_decode_key(k, &n, "-_-_-_-_-_-_-_-_-_-_-w", 22, &err), MF_OK);
    assert_int_equal(n, 16);
    assert_int_equal(k[0], 0xfb);
    /* too short, too long, garbage, empty */
    assert_int_equal(mf_config_decode_key(k, &n, "00ff", 4, &err), MF_ERR_CONFIG);
    char longhex[2 * MF_FLEET_KEY_MAX + 3];
    memset(longhex, 'a', sizeof(longhex) - 1);
    longhex[sizeof(longhex) - 1] = '\0';
    assert_int_equal(mf_config_decode_key(k, &n, longhex, strlen(longhex), &err), MF_ERR_CONFIG);
    assert_true(strstr(err.text, "longer than"));
    assert_int_equal(mf_config_decode_key(k, &n, "AAAA=AAAAAAAAAAAAAAAAAAAAAAA", 28, &err),
                     MF_ERR_CONFIG);
    assert_int_equal(mf_config_decode_key(k, &n, "   \n", 4, &err), MF_ERR_CONFIG);
    assert_int_equal(n, 0);
}

/* defaults < base < managed < --config < flags, key by key. */
static void test_layering(void **state)
{
    (void)state;
    mf_error err;
    mf_error_clear(&err);
    const char btext[] = "{\"collector\": \"basic@base.example.com:2200\", \"outbox\": "
                         "\"/base/outbox\", \"ssh_timeout\": 11, \"retry_min\": 5, "
                         "\"probe_timeout\": 7}";
    char *base = write_file("base.json", btext, strlen(btext));
    const char mtext[] = "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict>"
                         "<key>collector</key><string>managed.example.com</string>"
                         "<key>ssh_timeout</key><integer>12</integer>"
                         "<key>PayloadUUID</key><string>x</string></dict></plist>";
    char *managed = write_file("managed.plist", mtext, strlen(mtext));
    const char ctext[] = "{\"ssh_timeout\": 13, \"identity\": \"/cfg/id\"}";
    char *cfgfile = write_file("cli.json", ctext, strlen(ctext));
    const char *bases[] = {"/nonexistent/first.json", base, NULL};

    mf_agent_opts o;
    memset(&o, 0, sizeof(o));
    o.config = cfgfile;
    o.outbox = "/flag/outbox";
    o.collector = "flagged@";
    o.timeout_s = 20;
    mf_agent_config c;
    /* "flagged@" has no host: refused as a usage error naming the flag */
    assert_int_equal(mf_agent_config_load_paths(&c, bases, managed, &o, &err), MF_ERR_USAGE);
    assert_string_equal(err.field, "--collector");
    mf_agent_config_free(&c);

    o.collector = "flagged@flag.example.com";
    assert_int_equal(mf_agent_config_load_paths(&c, bases, managed, &o, &err), MF_OK);
    assert_string_equal(c.collector_host, "flag.example.com"); /* flag */
    assert_string_equal(c.collector_user, "flagged");          /* flag */
    assert_int_equal(c.collector_port, 2200);                  /* base: nobody else */
    assert_string_equal(c.outbox, "/flag/outbox");             /* flag over base */
    assert_int_equal(c.ssh_timeout_s, 13);                     /* --config */
    assert_string_equal(c.identity, "/cfg/id");                /* --config */
    assert_int_equal(c.retry_min_s, 5);                        /* base */
    assert_int_equal(c.probe_timeout_s, 7);                    /* no --timeout */
    assert_string_equal(c.origin[MF_CFG_COLLECTOR_PORT], base);
    assert_string_equal(c.origin[MF_CFG_SSH_TIMEOUT], cfgfile);
    assert_string_equal(c.origin[MF_CFG_OUTBOX], "command line");
    mf_agent_config_free(&c);

    /* Without flags and --config: the managed host wins over the base's, the base's
     * user and port stay (the shorthand sets only the parts it names). */
    assert_int_equal(mf_agent_config_load_paths(&c, bases, managed, NULL, &err), MF_OK);
    assert_string_equal(c.collector_host, "managed.example.com");
    assert_string_equal(c.collector_user, "basic");
    assert_int_equal(c.ssh_timeout_s, 12);
    assert_string_equal(c.origin[MF_CFG_COLLECTOR_HOST], managed);
    mf_agent_config_free(&c);

    /* --timeout and --concurrency win only when given */
    memset(&o, 0, sizeof(o));
    o.timeout_s = 20;
    o.concurrency = 16;
    assert_int_equal(mf_agent_config_load_paths(&c, bases, NULL, &o, &err), MF_OK);
    assert_int_equal(c.probe_timeout_s, 7);
    mf_agent_config_free(&c);
    o.timeout_set = true;
    o.no_probe = true;
    o.ca_file = "/flag/ca.pem";
    assert_int_equal(mf_agent_config_load_paths(&c, bases, NULL, &o, &err), MF_OK);
    assert_int_equal(c.probe_timeout_s, 20);
    assert_true(c.no_probe);
    assert_string_equal(c.ca_file, "/flag/ca.pem");
    mf_agent_config_free(&c);

    /* A --config that does not exist is an error; a broken managed file too, naming it. */
    o.config = "/nonexistent/agent.json";
    assert_int_equal(mf_agent_config_load_paths(&c, bases, NULL, &o, &err), MF_ERR_NOTFOUND);
    mf_agent_config_free(&c);
    const char btext2[] = "<plist><dict><key>ssh_timeout</key><integer>0</integer></dict></plist>";
    char *broken = write_file("broken.plist", btext2, strlen(btext2));
    assert_int_equal(mf_agent_config_load_paths(&c, bases, broken, NULL, &err), MF_ERR_CONFIG);
    assert_string_equal(err.file, broken);
    assert_string_equal(err.field, "ssh_timeout");
    mf_agent_config_free(&c);
    free(broken);
    free(base);
    free(managed);
    free(cfgfile);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),        cmocka_unit_test(test_json_every_key),
        cmocka_unit_test(test_plist_every_key), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_cross_checks),    cmocka_unit_test(test_parse_collector),
        cmocka_unit_test(test_decode_key),      cmocka_unit_test(test_layering),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
