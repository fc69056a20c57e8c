/* config.c: the agent's configuration, layered from defaults, files and flags.
 *
 * JSON and property lists go through one validator: each top-level entry becomes a
 * cfg_value (string, integer, boolean, or "something else" with its type name), and
 * apply_key() checks it against the key table. So the same key gets the same error
 * whichever format the administrator chose. */
#include "config.h"

#include "config_paths.h"
#include "fileio.h"
#include "log.h"
#include "plist_util.h"
#include "report_json.h"

#include <ctype.h>
#include <jansson.h>
#include <plist/plist.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_USER "mailfleet"
#define HOST_MAX     253
#define USER_MAX     64
#define PATH_MAX_LEN 4096

typedef enum vkind { V_STRING, V_INT, V_BOOL, V_OTHER } vkind;

/* One configuration value, whichever format it came from. */
typedef struct cfg_value {
    vkind kind;
    const char *s; /* V_STRING: the text (NUL-terminated), slen its length */
    size_t slen;
    long long i;
    bool b;
    const char *type_name; /* "a string", "a real", "an array", ... */
} cfg_value;

typedef enum ktype {
    K_COLLECTOR, /* "[user@]host[:port]" */
    K_HOST,
    K_USER,
    K_PATH,
    K_INT,
    K_BOOL,
    K_PRIVACY,
    K_KEY,      /* fleet key text */
    K_KEY_FILE, /* path of a file holding the fleet key */
} ktype;

typedef struct key_def {
    const char *name;
    mf_config_key id;
    ktype type;
    long long min, max; /* K_INT only */
} key_def;

static const key_def keys[] = {
    {"collector", MF_CFG_COLLECTOR, K_COLLECTOR, 0, 0},
    {"collector_host", MF_CFG_COLLECTOR_HOST, K_HOST, 0, 0},
    {"collector_port", MF_CFG_COLLECTOR_PORT, K_INT, 1, 65535},
    {"collector_user", MF_CFG_COLLECTOR_USER, K_USER, 0, 0},
    {"identity", MF_CFG_IDENTITY, K_PATH, 0, 0},
    {"known_hosts", MF_CFG_KNOWN_HOSTS, K_PATH, 0, 0},
    {"outbox", MF_CFG_OUTBOX, K_PATH, 0, 0},
    {"outbox_max_reports", MF_CFG_OUTBOX_MAX_REPORTS, K_INT, 1, 100000},
    {"outbox_max_bytes", MF_CFG_OUTBOX_MAX_BYTES, K_INT, 65536, 16LL * 1024 * 1024 * 1024},
    {"ssh_timeout", MF_CFG_SSH_TIMEOUT, K_INT, 1, 3600},
    {"retry_min", MF_CFG_RETRY_MIN, K_INT, 1, 86400},
    {"retry_max", MF_CFG_RETRY_MAX, K_INT, 1, 7 * 86400},
    {"probe_timeout", MF_CFG_PROBE_TIMEOUT, K_INT, 1, 3600},
    {"probe_concurrency", MF_CFG_PROBE_CONCURRENCY, K_INT, 1, 1024},
    {"ca_file", MF_CFG_CA_FILE, K_PATH, 0, 0},
    {"no_probe", MF_CFG_NO_PROBE, K_BOOL, 0, 0},
    {"privacy", MF_CFG_PRIVACY, K_PRIVACY, 0, 0},
    {"fleet_key", MF_CFG_FLEET_KEY, K_KEY, 0, 0},
    {"fleet_key_file", MF_CFG_FLEET_KEY_FILE, K_KEY_FILE, 0, 0},
    {"pseudonymise_hostname", MF_CFG_PSEUDONYMISE_HOSTNAME, K_BOOL, 0, 0},
};

const char *mf_config_key_name(mf_config_key k)
{
    for (size_t i = 0; i < MF_ARRAY_LEN(keys); i++)
        if (keys[i].id == k)
            return keys[i].name;
    return "?";
}

/* Per-file state: where relative paths start, and which parts of the collector were
 * set by which key, so that "collector" and "collector_port" in one file conflict. */
enum { PART_USER = 1, PART_HOST = 2, PART_PORT = 4 };
typedef struct file_ctx {
    const char *origin; /* file path (or a label) */
    char *dir;          /* folder of the file for relative paths; NULL: keep them relative */
    unsigned by_collector, by_component;
    bool key_text, key_file;
} file_ctx;

/* ------------------------------------------------------------------ defaults */

mf_code mf_agent_config_init(mf_agent_config *c)
{
    memset(c, 0, sizeof(*c));
    c->collector_port = 22;
    c->outbox_max_reports = 100;
    c->outbox_max_bytes = 20LL * 1024 * 1024;
    c->ssh_timeout_s = 30;
    c->retry_min_s = 60;
    c->retry_max_s = 3600;
    c->probe_timeout_s = 20;
    c->probe_concurrency = 16;
    c->privacy = MF_PRIVACY_CLEAR;
    c->collector_user = mf_strdup(DEFAULT_USER);
    c->identity = mf_strdup(mf_config_default_identity());
    c->known_hosts = mf_strdup(mf_config_default_known_hosts());
    c->outbox = mf_strdup(mf_config_default_outbox());
    if (!c->collector_user || !c->identity || !c->known_hosts || !c->outbox)
        return MF_ERR_NOMEM;
    return MF_OK;
}

void mf_agent_config_free(mf_agent_config *c)
{
    if (!c)
        return;
    free(c->collector_host);
    free(c->collector_user);
    free(c->identity);
    free(c->known_hosts);
    free(c->outbox);
    free(c->ca_file);
    mf_strv_free(&c->files);
    /* The key is a secret: do not leave it in freed memory. */
    volatile unsigned char *k = c->fleet_key;
    for (size_t i = 0; i < sizeof(c->fleet_key); i++)
        k[i] = 0;
    memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------------ helpers */

static mf_code set_str(char **dst, const char *src)
{
    char *p = mf_strdup(src);
    if (!p)
        return MF_ERR_NOMEM;
    free(*dst);
    *dst = p;
    return MF_OK;
}

/* Edit distance, for "did you mean" (keys are short, so the O(n*m) table is tiny). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost =
                tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            d[i][j] = best;
        }
    return d[la][lb];
}

static const char *suggest(const char *name)
{
    const char *best = NULL;
    size_t bestd = 4;
    for (size_t i = 0; i < MF_ARRAY_LEN(keys); i++) {
        size_t dd = edit_distance(name, keys[i].name);
        if (dd < bestd) {
            bestd = dd;
            best = keys[i].name;
        }
    }
    return best;
}

static bool has_ctl_or_space(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return true;
    return false;
}

/* A DNS name or an address: letters, digits, '.', '-', '_' or, for an IPv6 address,
 * hex digits, ':' and '%' (zone). No brackets here: they belong to the collector
 * string, not to the host. */
static bool host_ok(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > HOST_MAX)
        return false;
    for (const char *p = h; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(".-_:%", *p))
            return false;
    return h[0] != '-';
}

static bool user_ok(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > USER_MAX || u[0] == '-')
        return false;
    for (const char *p = u; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
            return false;
    return true;
}

mf_code mf_config_parse_collector(char **user, char **host, int *port, const char *s, mf_error *err)
{
    *user = NULL;
    *host = NULL;
    *port = 0;
    mf_code rc = MF_OK;
    if (!s || !*s)
        return mf_error_set(err, MF_ERR_CONFIG, "bad value: empty, expected USER@HOST[:PORT]");
    if (has_ctl_or_space(s))
        return mf_error_set(err, MF_ERR_CONFIG,
                            "bad value: \"%.100s\" contains white space or a control character", s);
    const char *at = strchr(s, '@');
    const char *h = s;
    if (at) {
        *user = mf_strndup(s, (size_t)(at - s));
        if (!*user)
            return MF_ERR_NOMEM;
        if (!user_ok(*user)) {
            rc = mf_error_set(err, MF_ERR_CONFIG, "bad value: \"%.64s\" is not a user name", *user);
            goto out;
        }
        h = at + 1;
    }
    const char *portstr = NULL;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (!close || close == h + 1) {
            rc = mf_error_set(err, MF_ERR_CONFIG, "bad value: unterminated [address] in \"%.100s\"",
                              s);
            goto out;
        }
        *host = mf_strndup(h + 1, (size_t)(close - h - 1));
        if (close[1] == ':')
            portstr = close + 2;
        else if (close[1] != '\0') {
            rc = mf_error_set(err, MF_ERR_CONFIG, "bad value: unexpected \"%.32s\" after ]",
                              close + 1);
            goto out;
        }
    } else {
        const char *colon = strchr(h, ':');
        if (colon && strchr(colon + 1, ':')) {
            rc = mf_error_set(err, MF_ERR_CONFIG,
                              "bad value: write an IPv6 address in brackets: USER@[ADDR]:PORT");
            goto out;
        }
        *host = colon ? mf_strndup(h, (size_t)(colon - h)) : mf_strdup(h);
        if (colon)
            portstr = colon + 1;
    }
    if (!*host) {
        rc = MF_ERR_NOMEM;
        goto out;
    }
    if (!host_ok(*host)) {
        rc = mf_error_set(err, MF_ERR_CONFIG, "bad value: \"%.100s\" is not a host name", *host);
        goto out;
    }
    if (portstr) {
        long long v;
        if (mf_parse_long(portstr, 1, 65535, &v) != MF_OK) {
            rc = mf_error_set(err, MF_ERR_CONFIG,
                              "bad value: port \"%.32s\" is not a number from 1 to 65535", portstr);
            goto out;
        }
        *port = (int)v;
    }
out:
    if (rc != MF_OK) {
        free(*user);
        free(*host);
        *user = NULL;
        *host = NULL;
        *port = 0;
    }
    return rc;
}

/* ------------------------------------------------------------------ fleet key */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int b64val(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

mf_code mf_config_decode_key(unsigned char *out, size_t *outlen, const char *text, size_t textlen,
                             mf_error *err)
{
    *outlen = 0;
    while (textlen && isspace((unsigned char)*text))
        text++, textlen--;
    while (textlen && isspace((unsigned char)text[textlen - 1]))
        textlen--;
    if (textlen == 0)
        return mf_error_set(err, MF_ERR_CONFIG, "bad value: the fleet key is empty");
    bool hex = textlen % 2 == 0;
    for (size_t i = 0; hex && i < textlen; i++)
        if (hexval((unsigned char)text[i]) < 0)
            hex = false;
    size_t n = 0;
    if (hex) {
        if (textlen / 2 > MF_FLEET_KEY_MAX)
            return mf_error_set(err, MF_ERR_CONFIG,
                                "bad value: the fleet key is longer than %d bytes",
                                MF_FLEET_KEY_MAX);
        for (size_t i = 0; i < textlen; i += 2)
            out[n++] = (unsigned char)(hexval((unsigned char)text[i]) * 16 +
                                       hexval((unsigned char)text[i + 1]));
    } else {
        unsigned acc = 0;
        int bits = 0;
        size_t pad = 0;
        for (size_t i = 0; i < textlen; i++) {
            int ch = (unsigned char)text[i];
            if (ch == '=') {
                pad++;
                continue;
            }
            int v = b64val(ch);
            if (v < 0 || pad) {
                n = 0;
                return mf_error_set(err, MF_ERR_CONFIG,
                                    "bad value: the fleet key is neither hex nor base64 "
                                    "(character %zu)",
                                    i + 1);
            }
            acc = (acc << 6) | (unsigned)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                if (n >= MF_FLEET_KEY_MAX)
                    return mf_error_set(err, MF_ERR_CONFIG,
                                        "bad value: the fleet key is longer than %d bytes",
                                        MF_FLEET_KEY_MAX);
                out[n++] = (unsigned char)(acc >> bits);
                acc &= (1u << bits) - 1;
            }
        }
        if (pad > 2 || bits >= 6)
            return mf_error_set(err, MF_ERR_CONFIG, "bad value: the fleet key is not valid base64");
    }
    if (n < MF_FLEET_KEY_MIN)
        return mf_error_set(err, MF_ERR_CONFIG,
                            "bad value: the fleet key is %zu bytes; it must be at least %d bytes "
                            "(make one with: openssl rand -hex 32)",
                            n, MF_FLEET_KEY_MIN);
    *outlen = n;
    return MF_OK;
}

/* ------------------------------------------------------------------ one key */

/* Resolve a configured path: absolute stays, relative is taken from the file's folder. */
static char *resolve_path(const file_ctx *fc, const char *p)
{
    if (p[0] == '/' || !fc->dir)
        return mf_strdup(p);
    return mf_path_join(fc->dir, p);
}

static mf_code wrong_type(mf_error *err, const char *expected, const cfg_value *v)
{
    return mf_error_set(err, MF_ERR_CONFIG, "wrong type: expected %s, got %s", expected,
                        v->type_name);
}

static mf_code apply_collector_parts(mf_agent_config *c, file_ctx *fc, char *user, char *host,
                                     int port, mf_error *err)
{
    unsigned parts = (user ? PART_USER : 0) | (host ? PART_HOST : 0) | (port ? PART_PORT : 0);
    mf_code rc = MF_OK;
    unsigned both = parts & fc->by_component;
    if (both) {
        const char *what = (both & PART_PORT) ? "port" : (both & PART_USER) ? "user" : "host";
        rc = mf_error_set(err, MF_ERR_CONFIG,
                          "conflict: collector and collector_%s both set the %s; keep one", what,
                          what);
        goto out;
    }
    fc->by_collector |= parts;
    if (user) {
        free(c->collector_user);
        c->collector_user = user;
        user = NULL;
        c->origin[MF_CFG_COLLECTOR_USER] = fc->origin;
    }
    if (host) {
        free(c->collector_host);
        c->collector_host = host;
        host = NULL;
        c->origin[MF_CFG_COLLECTOR_HOST] = fc->origin;
    }
    if (port) {
        c->collector_port = port;
        c->origin[MF_CFG_COLLECTOR_PORT] = fc->origin;
    }
out:
    free(user);
    free(host);
    return rc;
}

static mf_code component_conflict(file_ctx *fc, unsigned part, mf_error *err)
{
    if (fc->by_collector & part)
        return mf_error_set(err, MF_ERR_CONFIG,
                            "conflict: the collector key already sets this; keep one");
    fc->by_component |= part;
    return MF_OK;
}

static mf_code load_key_file(mf_agent_config *c, const char *path, mf_error *err)
{
    char *data = NULL;
    size_t len = 0;
    mf_error ferr;
    mf_error_clear(&ferr);
    mf_code rc = mf_file_read(path, 4096, &data, &len, &ferr);
    if (rc != MF_OK)
        return mf_error_set(err, MF_ERR_CONFIG, "bad value: cannot read the key file %s: %s", path,
                            ferr.text);
    mf_error kerr;
    mf_error_clear(&kerr);
    rc = mf_config_decode_key(c->fleet_key, &c->fleet_key_len, data, len, &kerr);
    if (rc != MF_OK)
        rc = mf_error_set(err, MF_ERR_CONFIG, "%s (in %s)", kerr.text, path);
    memset(data, 0, len);
    free(data);
    return rc;
}

static mf_code apply_key(mf_agent_config *c, file_ctx *fc, const char *name, const cfg_value *v,
                         mf_error *err)
{
    const key_def *k = NULL;
    for (size_t i = 0; i < MF_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].name, name) == 0)
            k = &keys[i];
    mf_error_set_field(err, name);
    if (!k) {
        const char *s = suggest(name);
        if (s)
            return mf_error_set(err, MF_ERR_CONFIG, "unknown key (did you mean \"%s\"?)", s);
        return mf_error_set(err, MF_ERR_CONFIG,
                            "unknown key (see docs/configuration.md for the keys)");
    }
    bool wants_string = k->type != K_INT && k->type != K_BOOL;
    if (wants_string) {
        if (v->kind != V_STRING)
            return wrong_type(err, "a string", v);
        if (strlen(v->s) != v->slen)
            return mf_error_set(err, MF_ERR_CONFIG, "bad value: contains a NUL character");
        if (v->slen == 0)
            return mf_error_set(err, MF_ERR_CONFIG, "bad value: empty");
    }
    mf_code rc = MF_OK;
    switch (k->type) {
    case K_COLLECTOR: {
        char *user, *host;
        int port;
        if ((rc = mf_config_parse_collector(&user, &host, &port, v->s, err)) != MF_OK)
            return rc;
        rc = apply_collector_parts(c, fc, user, host, port, err);
        break;
    }
    case K_HOST:
        if ((rc = component_conflict(fc, PART_HOST, err)))
            return rc;
        if (!host_ok(v->s))
            return mf_error_set(err, MF_ERR_CONFIG, "bad value: \"%.100s\" is not a host name",
                                v->s);
        rc = set_str(&c->collector_host, v->s);
        break;
    case K_USER:
        if ((rc = component_conflict(fc, PART_USER, err)))
            return rc;
        if (!user_ok(v->s))
            return mf_error_set(err, MF_ERR_CONFIG,
                                "bad value: \"%.64s\" is not a user name (letters, digits, . _ -)",
                                v->s);
        rc = set_str(&c->collector_user, v->s);
        break;
    case K_PATH:
    case K_KEY_FILE: {
        if (v->slen > PATH_MAX_LEN)
            return mf_error_set(err, MF_ERR_CONFIG, "bad value: path longer than %d bytes",
                                PATH_MAX_LEN);
        char *p = resolve_path(fc, v->s);
        if (!p)
            return MF_ERR_NOMEM;
        char **dst = k->id == MF_CFG_IDENTITY      ? &c->identity
                     : k->id == MF_CFG_KNOWN_HOSTS ? &c->known_hosts
                     : k->id == MF_CFG_OUTBOX      ? &c->outbox
                     : k->id == MF_CFG_CA_FILE     ? &c->ca_file
                                                   : NULL;
        if (dst) {
            free(*dst);
            *dst = p;
            break;
        }
        /* fleet_key_file */
        if (fc->key_text) {
            free(p);
            return mf_error_set(err, MF_ERR_CONFIG,
                                "conflict: give fleet_key or fleet_key_file, not both");
        }
        fc->key_file = true;
        rc = load_key_file(c, p, err);
        free(p);
        break;
    }
    case K_KEY:
        if (fc->key_file)
            return mf_error_set(err, MF_ERR_CONFIG,
                                "conflict: give fleet_key or fleet_key_file, not both");
        fc->key_text = true;
        rc = mf_config_decode_key(c->fleet_key, &c->fleet_key_len, v->s, v->slen, err);
        break;
    case K_PRIVACY:
        if (strcmp(v->s, "clear") == 0)
            c->privacy = MF_PRIVACY_CLEAR;
        else if (strcmp(v->s, "pseudonymise") == 0 || strcmp(v->s, "pseudonymize") == 0)
            c->privacy = MF_PRIVACY_PSEUDONYMISE;
        else
            return mf_error_set(err, MF_ERR_CONFIG,
                                "bad value: \"%.64s\", expected \"clear\" or \"pseudonymise\"",
                                v->s);
        break;
    case K_INT: {
        if (v->kind != V_INT)
            return wrong_type(err, "an integer", v);
        if (v->i < k->min || v->i > k->max)
            return mf_error_set(err, MF_ERR_CONFIG,
                                "out of range: %lld is not between %lld and %lld", v->i, k->min,
                                k->max);
        if (k->id == MF_CFG_COLLECTOR_PORT && (rc = component_conflict(fc, PART_PORT, err)))
            return rc;
        switch (k->id) {
        case MF_CFG_COLLECTOR_PORT:
            c->collector_port = (int)v->i;
            break;
        case MF_CFG_OUTBOX_MAX_REPORTS:
            c->outbox_max_reports = v->i;
            break;
        case MF_CFG_OUTBOX_MAX_BYTES:
            c->outbox_max_bytes = v->i;
            break;
        case MF_CFG_SSH_TIMEOUT:
            c->ssh_timeout_s = (int)v->i;
            break;
        case MF_CFG_RETRY_MIN:
            c->retry_min_s = (int)v->i;
            break;
        case MF_CFG_RETRY_MAX:
            c->retry_max_s = (int)v->i;
            break;
        case MF_CFG_PROBE_TIMEOUT:
            c->probe_timeout_s = (int)v->i;
            break;
        case MF_CFG_PROBE_CONCURRENCY:
            c->probe_concurrency = (int)v->i;
            break;
        default:
            return MF_ERR_INTERNAL;
        }
        break;
    }
    case K_BOOL:
        if (v->kind != V_BOOL)
            return wrong_type(err, "a boolean (true or false)", v);
        if (k->id == MF_CFG_NO_PROBE)
            c->no_probe = v->b;
        else
            c->pseudonymise_hostname = v->b;
        break;
    }
    if (rc == MF_OK) {
        c->origin[k->id] = fc->origin;
        mf_error_set_field(err, "");
    }
    return rc;
}

/* Keys an MDM wraps around a payload (PayloadUUID, PayloadType, ...) may reach the
 * managed preferences file; they are not ours, so they are skipped, not refused. */
static bool ignored_key(const char *name)
{
    return strncmp(name, "Payload", 7) == 0;
}

/* ------------------------------------------------------------------ formats */

static mf_code apply_json(mf_agent_config *c, file_ctx *fc, const char *data, size_t len,
                          mf_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        mf_error_set_pos(err, jerr.line, jerr.column);
        return mf_error_set(err, MF_ERR_CONFIG, "not valid JSON: %s", jerr.text);
    }
    mf_code rc = MF_OK;
    if (!json_is_object(root)) {
        rc = mf_error_set(err, MF_ERR_CONFIG, "the top level must be an object, got %s",
                          mf_json_kind(root));
        goto out;
    }
    const char *name;
    json_t *val;
    json_object_foreach(root, name, val)
    {
        if (ignored_key(name))
            continue;
        cfg_value v = {.kind = V_OTHER, .type_name = mf_json_kind(val)};
        if (json_is_string(val)) {
            v.kind = V_STRING;
            v.s = json_string_value(val);
            v.slen = json_string_length(val);
        } else if (json_is_integer(val)) {
            v.kind = V_INT;
            v.i = json_integer_value(val);
        } else if (json_is_boolean(val)) {
            v.kind = V_BOOL;
            v.b = json_is_true(val);
        }
        if ((rc = apply_key(c, fc, name, &v, err)) != MF_OK)
            goto out;
    }
out:
    json_decref(root);
    return rc;
}

static mf_code apply_plist(mf_agent_config *c, file_ctx *fc, const char *data, size_t len,
                           mf_error *err)
{
    plist_t root = NULL;
    mf_code rc = mf_plist_parse(data, len, &root, err);
    if (rc == MF_ERR_PARSE) {
        if (err)
            err->code = MF_ERR_CONFIG;
        return MF_ERR_CONFIG;
    }
    if (rc != MF_OK)
        return rc;
    /* libplist 2.2 keeps NUL bytes inside strings and keys (raw in XML, or from a binary
     * plist) and then aborts on an assertion when such a key is read. Writing the tree
     * out as XML stops every string at its first NUL; reading that back gives a tree
     * that is safe to walk. A configuration file is small, so the detour costs nothing. */
    char *xml = NULL;
    uint32_t xlen = 0;
    plist_to_xml(root, &xml, &xlen);
    plist_free(root);
    root = NULL;
    if (!xml)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    rc = mf_plist_parse(xml, xlen, &root, err);
    plist_to_xml_free(xml);
    if (rc != MF_OK) {
        if (err)
            err->code = MF_ERR_CONFIG;
        return MF_ERR_CONFIG;
    }
    if (plist_get_node_type(root) != PLIST_DICT) {
        rc = mf_error_set(err, MF_ERR_CONFIG, "the top level must be a dict, got %s",
                          mf_plist_type_name(root));
        goto out;
    }
    plist_dict_iter it = NULL;
    plist_dict_new_iter(root, &it);
    if (!it) {
        rc = MF_ERR_NOMEM;
        goto out;
    }
    for (;;) {
        char *name = NULL;
        plist_t val = NULL;
        plist_dict_next_item(root, it, &name, &val);
        if (!name)
            break;
        if (ignored_key(name)) {
            free(name);
            continue;
        }
        cfg_value v = {.kind = V_OTHER, .type_name = mf_plist_type_name(val)};
        uint64_t u = 0, slen = 0;
        uint8_t b = 0;
        switch (plist_get_node_type(val)) {
        case PLIST_STRING:
            v.kind = V_STRING;
            v.s = plist_get_string_ptr(val, &slen);
            if (!v.s)
                v.s = "";
            v.slen = (size_t)slen;
            break;
        case PLIST_UINT:
            plist_get_uint_val(val, &u);
            v.kind = V_INT;
            v.i = (long long)u; /* libplist 2.2 keeps negatives as their two's complement */
            break;
        case PLIST_BOOLEAN:
            plist_get_bool_val(val, &b);
            v.kind = V_BOOL;
            v.b = b != 0;
            break;
        default:
            break;
        }
        rc = apply_key(c, fc, name, &v, err);
        free(name);
        if (rc != MF_OK)
            goto out_iter;
    }
out_iter:
    free(it);
out:
    plist_free(root);
    return rc;
}

static mf_code apply_data(mf_agent_config *c, file_ctx *fc, const char *data, size_t len,
                          mf_error *err)
{
    size_t i = 0;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && isspace((unsigned char)data[i]))
        i++;
    if (i < len && data[i] == '{')
        return apply_json(c, fc, data + i, len - i, err);
    if ((i < len && data[i] == '<') || (len >= 6 && memcmp(data, "bplist", 6) == 0))
        return apply_plist(c, fc, data, len, err);
    return mf_error_set(err, MF_ERR_CONFIG,
                        "neither a JSON object nor a property list (expected '{' or '<')");
}

static mf_code remember_file(mf_agent_config *c, const char *origin, const char **stored)
{
    if (mf_strv_push(&c->files, origin))
        return MF_ERR_NOMEM;
    *stored = c->files.v[c->files.n - 1];
    return MF_OK;
}

mf_code mf_agent_config_apply_buffer(mf_agent_config *c, const char *origin, const char *data,
                                     size_t len, mf_error *err)
{
    file_ctx fc;
    memset(&fc, 0, sizeof(fc));
    mf_error_set_file(err, origin);
    mf_code rc = remember_file(c, origin, &fc.origin);
    if (rc != MF_OK)
        return rc;
    return apply_data(c, &fc, data, len, err);
}

mf_code mf_agent_config_apply_file(mf_agent_config *c, const char *path, mf_error *err)
{
    char *data = NULL;
    size_t len = 0;
    mf_code rc = mf_file_read(path, MF_CONFIG_MAX_BYTES, &data, &len, err);
    if (rc != MF_OK)
        return rc;
    file_ctx fc;
    memset(&fc, 0, sizeof(fc));
    if ((rc = remember_file(c, path, &fc.origin)) != MF_OK)
        goto out;
    fc.dir = mf_strdup(path);
    if (!fc.dir) {
        rc = MF_ERR_NOMEM;
        goto out;
    }
    char *slash = strrchr(fc.dir, '/');
    if (slash == fc.dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else {
        free(fc.dir);
        fc.dir = NULL; /* a bare file name: relative paths stay relative to the cwd */
    }
    mf_error_set_file(err, path);
    rc = apply_data(c, &fc, data, len, err);
    free(fc.dir);
out:
    free(data);
    return rc;
}

/* ------------------------------------------------------------------ flags */

mf_code mf_agent_config_apply_opts(mf_agent_config *c, const mf_agent_opts *o, mf_error *err)
{
    static const char *const cmdline = "command line";
    mf_code rc = MF_OK;
    if (o->collector) {
        char *user, *host;
        int port;
        mf_error_set_file(err, "");
        mf_error_set_field(err, "--collector");
        if (mf_config_parse_collector(&user, &host, &port, o->collector, err) != MF_OK)
            return err ? (err->code = MF_ERR_USAGE) : MF_ERR_USAGE;
        file_ctx fc;
        memset(&fc, 0, sizeof(fc));
        fc.origin = cmdline;
        if ((rc = apply_collector_parts(c, &fc, user, host, port, err)) != MF_OK)
            return rc;
        mf_error_set_field(err, "");
    }
    struct {
        const char *val;
        char **dst;
        mf_config_key k;
    } paths[] = {
        {o->identity, &c->identity, MF_CFG_IDENTITY},
        {o->known_hosts, &c->known_hosts, MF_CFG_KNOWN_HOSTS},
        {o->outbox, &c->outbox, MF_CFG_OUTBOX},
        {o->ca_file, &c->ca_file, MF_CFG_CA_FILE},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(paths); i++)
        if (paths[i].val) {
            if ((rc = set_str(paths[i].dst, paths[i].val)) != MF_OK)
                return rc;
            c->origin[paths[i].k] = cmdline;
        }
    if (o->no_probe) {
        c->no_probe = true;
        c->origin[MF_CFG_NO_PROBE] = cmdline;
    }
    if (o->timeout_set) {
        c->probe_timeout_s = o->timeout_s;
        c->origin[MF_CFG_PROBE_TIMEOUT] = cmdline;
    }
    if (o->concurrency_set) {
        c->probe_concurrency = o->concurrency;
        c->origin[MF_CFG_PROBE_CONCURRENCY] = cmdline;
    }
    return MF_OK;
}

/* ------------------------------------------------------------------ checks, layering */

static mf_code fail_at(const mf_agent_config *c, mf_config_key k, mf_error *err)
{
    mf_error_set_file(err, c->origin[k] ? c->origin[k] : "(defaults)");
    mf_error_set_field(err, mf_config_key_name(k));
    return MF_ERR_CONFIG;
}

mf_code mf_agent_config_check(const mf_agent_config *c, mf_error *err)
{
    if (c->privacy == MF_PRIVACY_PSEUDONYMISE && c->fleet_key_len == 0) {
        fail_at(c, MF_CFG_PRIVACY, err);
        return mf_error_set(err, MF_ERR_CONFIG,
                            "bad value: pseudonymise needs a fleet key (fleet_key or "
                            "fleet_key_file)");
    }
    if (c->retry_min_s > c->retry_max_s) {
        fail_at(c, c->origin[MF_CFG_RETRY_MIN] ? MF_CFG_RETRY_MIN : MF_CFG_RETRY_MAX, err);
        return mf_error_set(err, MF_ERR_CONFIG,
                            "out of range: retry_min (%d) is above retry_max (%d)", c->retry_min_s,
                            c->retry_max_s);
    }
    return MF_OK;
}

mf_code mf_agent_config_load_paths(mf_agent_config *out, const char *const *base,
                                   const char *managed, const mf_agent_opts *o, mf_error *err)
{
    mf_error_clear(err);
    mf_code rc = mf_agent_config_init(out);
    if (rc != MF_OK)
        return rc;
    for (size_t i = 0; base && base[i]; i++) {
        if (!mf_path_exists(base[i]))
            continue;
        mf_log_debug("configuration: reading %s", base[i]);
        if ((rc = mf_agent_config_apply_file(out, base[i], err)) != MF_OK)
            return rc;
        break;
    }
    if (managed && mf_path_exists(managed)) {
        mf_log_debug("configuration: reading managed preferences %s", managed);
        if ((rc = mf_agent_config_apply_file(out, managed, err)) != MF_OK)
            return rc;
    }
    if (o && o->config) {
        mf_log_debug("configuration: reading %s", o->config);
        if ((rc = mf_agent_config_apply_file(out, o->config, err)) != MF_OK)
            return rc;
    }
    if (o && (rc = mf_agent_config_apply_opts(out, o, err)) != MF_OK)
        return rc;
    return mf_agent_config_check(out, err);
}

mf_code mf_agent_config_load(mf_agent_config *out, const mf_agent_opts *o, mf_error *err)
{
    return mf_agent_config_load_paths(out, mf_config_base_paths(), mf_config_managed_path(), o,
                                      err);
}
