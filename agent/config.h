/* config.h: the agent's configuration for send and flush (docs/configuration.md).
 *
 * Layers, lowest first, each overriding the one before it key by key:
 *   1. built-in defaults (paths from config_paths_<platform>.c);
 *   2. the administrator's file (mf_config_base_paths(): the first that exists);
 *   3. managed preferences written by an MDM (mf_config_managed_path(); macOS only);
 *   4. --config FILE (must exist);
 *   5. command-line flags (--collector, --identity, --known-hosts, --outbox, --no-probe,
 *      --ca-file, --timeout, --concurrency).
 * A file is a JSON object or a property list (XML or binary) whose top level is a dict;
 * which one is decided by its content, not its name. Any key that is unknown, of the
 * wrong type or out of range refuses the whole configuration, with an error naming the
 * file, the key and the reason.
 */
#ifndef MF_CONFIG_H
#define MF_CONFIG_H

#include "error.h"
#include "options.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>

/* Largest configuration file read (a real one is well under 2 KiB). */
#define MF_CONFIG_MAX_BYTES (256 * 1024)
/* Fleet key size bounds, in bytes (a key shorter than 128 bits is refused). */
#define MF_FLEET_KEY_MIN 16
#define MF_FLEET_KEY_MAX 256

typedef enum mf_privacy_mode {
    MF_PRIVACY_CLEAR = 0,    /* the report carries names and addresses as found */
    MF_PRIVACY_PSEUDONYMISE, /* names and addresses replaced (privacy.h) */
} mf_privacy_mode;

/* Keys of the configuration, for mf_agent_config.origin. */
typedef enum mf_config_key {
    MF_CFG_COLLECTOR = 0,
    MF_CFG_COLLECTOR_HOST,
    MF_CFG_COLLECTOR_PORT,
    MF_CFG_COLLECTOR_USER,
    MF_CFG_IDENTITY,
    MF_CFG_KNOWN_HOSTS,
    MF_CFG_OUTBOX,
    MF_CFG_OUTBOX_MAX_REPORTS,
    MF_CFG_OUTBOX_MAX_BYTES,
    MF_CFG_SSH_TIMEOUT,
    MF_CFG_RETRY_MIN,
    MF_CFG_RETRY_MAX,
    MF_CFG_PROBE_TIMEOUT,
    MF_CFG_PROBE_CONCURRENCY,
    MF_CFG_CA_FILE,
    MF_CFG_NO_PROBE,
    MF_CFG_PRIVACY,
    MF_CFG_FLEET_KEY,
    MF_CFG_FLEET_KEY_FILE,
    MF_CFG_PSEUDONYMISE_HOSTNAME,
    MF_CFG__COUNT
} mf_config_key;

typedef struct mf_agent_config {
    char *collector_host;         /* NULL until configured */
    int collector_port;           /* default 22 */
    char *collector_user;         /* default "mailfleet" */
    char *identity;               /* SSH private key */
    char *known_hosts;            /* pinned host keys */
    char *outbox;                 /* queue folder */
    long long outbox_max_reports; /* default 100 */
    long long outbox_max_bytes;   /* default 20 MiB */
    int ssh_timeout_s;            /* each step of the SSH exchange; default 30 */
    int retry_min_s;              /* first back-off delay; default 60 */
    int retry_max_s;              /* back-off cap; default 3600 */
    int probe_timeout_s;          /* default 20 */
    int probe_concurrency;        /* default 16 */
    char *ca_file;                /* NULL: the system trust store */
    bool no_probe;
    mf_privacy_mode privacy;
    unsigned char fleet_key[MF_FLEET_KEY_MAX];
    size_t fleet_key_len; /* 0 when no key is configured */
    bool pseudonymise_hostname;
    /* Where each key's value came from: a file path, "command line", or NULL for the
     * built-in default. Points into files or static storage. */
    const char *origin[MF_CFG__COUNT];
    mf_strv files; /* the files read, in order (owns the origin strings) */
} mf_agent_config;

/* The JSON/plist name of a key ("collector_port"). Never NULL for a valid key. */
const char *mf_config_key_name(mf_config_key k);

/* Fill c with the built-in defaults. Returns MF_ERR_NOMEM only. Free with
 * mf_agent_config_free even on failure. */
mf_code mf_agent_config_init(mf_agent_config *c);

/* Read one configuration file and apply its keys over c. A missing file is
 * MF_ERR_NOTFOUND (callers decide whether that matters). Every other problem is
 * MF_ERR_CONFIG (or the file's read error) with err->file = path, err->field = the key
 * and err->text = the reason; c may then hold some of the file's keys and must not be
 * used. Relative paths in the file are taken relative to the file's folder. */
mf_code mf_agent_config_apply_file(mf_agent_config *c, const char *path, mf_error *err);

/* Same, from a buffer (origin names the source in errors and in c->origin). */
mf_code mf_agent_config_apply_buffer(mf_agent_config *c, const char *origin, const char *data,
                                     size_t len, mf_error *err);

/* Apply the command-line flags of o over c (a bad --collector is MF_ERR_USAGE). */
mf_code mf_agent_config_apply_opts(mf_agent_config *c, const mf_agent_opts *o, mf_error *err);

/* Checks that involve several keys (pseudonymise needs a fleet key; retry_min <=
 * retry_max). MF_ERR_CONFIG naming the file that set the key at fault. */
mf_code mf_agent_config_check(const mf_agent_config *c, mf_error *err);

/* The whole layering described above, with the platform's paths. *out is filled
 * (free it with mf_agent_config_free whatever the result). */
mf_code mf_agent_config_load(mf_agent_config *out, const mf_agent_opts *o, mf_error *err);

/* The layering with explicit paths (tests): base may be a NULL-terminated list (first
 * existing one wins), managed and config may be NULL. */
mf_code mf_agent_config_load_paths(mf_agent_config *out, const char *const *base,
                                   const char *managed, const mf_agent_opts *o, mf_error *err);

/* Parse "[USER@]HOST[:PORT]" (HOST may be a bracketed IPv6 address). Parts that are
 * absent come back as NULL / 0. *user and *host are the caller's. */
mf_code mf_config_parse_collector(char **user, char **host, int *port, const char *s,
                                  mf_error *err);

/* Decode a fleet key written as hex (only hex digits, even length) or base64 (standard
 * or URL-safe, padding optional), white space around it ignored, into out (size
 * MF_FLEET_KEY_MAX). MF_ERR_CONFIG with the reason when it is neither or when the key
 * is shorter than MF_FLEET_KEY_MIN bytes or longer than MF_FLEET_KEY_MAX. */
mf_code mf_config_decode_key(unsigned char *out, size_t *outlen, const char *text, size_t textlen,
                             mf_error *err);

void mf_agent_config_free(mf_agent_config *c);

#endif
