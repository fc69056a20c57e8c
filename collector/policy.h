/* policy.h: the policy engine of the collector.
 *
 * A policy file (docs/policy-language.md) is JSON: an id, a title, a version,
 * parameters with defaults, includes of other policy files with parameter overrides,
 * and rules. A rule has a scope (the kind of entity it is about), a `when` condition
 * (applicability) and an `expect` condition. Conditions address facts by path
 * ("probe.tls.cert.days_left"); the facts of an entity are JSON objects built from a
 * report (facts.c) or, for the fleet-server scope, aggregated over many reports.
 *
 * Evaluation is three-valued. A fact is either a value, JSON null ("known to be
 * absent": a plain-text server has no TLS session) or unknown (not in the facts at
 * all, because a probe or a source failed, or the agent did not say). Unknown makes a
 * comparison unknown, and an unknown `when` or `expect` makes the result `error`:
 * a failed probe is never counted as a pass or a fail.
 *
 * Modules:
 *   policy_parse.c  loading and strict validation (mf_policy_load, ...)
 *   facts.c         the fact catalogue, per-host facts and fleet-wide server facts
 *   policy_eval.c   conditions, rules, and the host / fleet evaluation drivers
 *   waivers.c       the waivers file
 * results.h holds the result model and its writers.
 */
#ifndef MF_POLICY_H
#define MF_POLICY_H

#include "error.h"
#include "report.h"
#include "util.h"

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MF_POLICY_SCHEMA "mailfleet.policy.v1"

/* Bounds on untrusted policy files. Each is documented in docs/policy-language.md. */
#define MF_POLICY_MAX_BYTES           (1024 * 1024) /* one policy file */
#define MF_POLICY_MAX_RULES           1000          /* rules in a policy with its includes */
#define MF_POLICY_MAX_DEPTH           16            /* nesting of all/any/not */
#define MF_POLICY_MAX_NODES           256           /* condition nodes in one rule */
#define MF_POLICY_MAX_INCLUDE_DEPTH   8             /* include chain length */
#define MF_POLICY_MAX_FILES           32            /* policy files loaded in total */
#define MF_POLICY_MAX_PARAMS          128           /* parameters of one file */
#define MF_POLICY_MAX_LIST            1000          /* items in a value list or list parameter */
#define MF_POLICY_MAX_PATTERNS        64            /* patterns in one glob/regex list */
#define MF_POLICY_PATTERN_MAX         256           /* bytes in one glob or regex */
#define MF_POLICY_REGEX_EXPANSION_MAX 4096          /* pattern length x product of {m,n} bounds */
#define MF_POLICY_MATCH_INPUT_MAX     4096          /* longest fact value matched by glob/regex */
#define MF_POLICY_TEXT_MAX            16384         /* description, rationale, remediation texts */
#define MF_POLICY_ID_MAX              64            /* rule, policy and parameter names */

/* ------------------------------------------------------------------ words */

typedef enum mf_severity {
    MF_SEV_INFO = 0,
    MF_SEV_LOW,
    MF_SEV_MEDIUM,
    MF_SEV_HIGH,
    MF_SEV_CRITICAL,
    MF_SEV__COUNT
} mf_severity;

typedef enum mf_scope {
    MF_SCOPE_SERVER = 0,   /* one server entry of a report, with its probe and source */
    MF_SCOPE_ACCOUNT,      /* one account, with its server entry and that entry's probe */
    MF_SCOPE_PROBE,        /* one probe (host name, port, security) of a report */
    MF_SCOPE_HOST,         /* one Mac (its latest report) */
    MF_SCOPE_FLEET_SERVER, /* one server across every report evaluated */
    MF_SCOPE__COUNT
} mf_scope;

typedef enum mf_op {
    MF_OP_EQ = 0,
    MF_OP_NE,
    MF_OP_IN,
    MF_OP_NOT_IN,
    MF_OP_LT,
    MF_OP_LE,
    MF_OP_GT,
    MF_OP_GE,
    MF_OP_GLOB,
    MF_OP_REGEX,
    MF_OP_EXISTS,
    MF_OP_MISSING,
    MF_OP_CONTAINS,
    MF_OP__COUNT
} mf_op;

/* Name tables: *_name never returns NULL; *_parse returns false for an unknown word. */
const char *mf_severity_name(mf_severity s);
bool mf_severity_parse(const char *s, mf_severity *out);
const char *mf_scope_name(mf_scope s);
bool mf_scope_parse(const char *s, mf_scope *out);
const char *mf_op_name(mf_op op);
bool mf_op_parse(const char *s, mf_op *out);

/* ------------------------------------------------------------------ facts */

/* The objects a fact path can start with. Which ones an entity has depends on the
 * scope (mf_facts_scope_roots). */
typedef enum mf_fact_root {
    MF_ROOT_HOST = 0,
    MF_ROOT_SERVER,
    MF_ROOT_SOURCE,
    MF_ROOT_PROBE,
    MF_ROOT_ACCOUNT,
    MF_ROOT_FLEET_SERVER,
    MF_ROOT__COUNT
} mf_fact_root;

typedef enum mf_fact_type {
    MF_FT_STRING = 0,
    MF_FT_INTEGER,
    MF_FT_NUMBER,
    MF_FT_BOOLEAN,
    MF_FT_STRINGS, /* array of strings */
    MF_FT_OBJECT   /* an object: only exists / missing / eq null / ne null apply */
} mf_fact_type;

/* One addressable fact: its path, value type, and a line of documentation. */
typedef struct mf_fact_def {
    const char *path;
    mf_fact_type type;
    const char *doc;
} mf_fact_def;

#define MF_FACTS_MAX 256

/* Which facts a policy reads: facts.c builds only these (building every fact of
 * 100,000 reports would dominate the run time). */
typedef struct mf_fact_mask {
    uint64_t w[MF_FACTS_MAX / 64];
} mf_fact_mask;

/* The catalogue, in documentation order; *n receives its length. Static storage. */
const mf_fact_def *mf_facts_catalogue(size_t *n);
/* Index of path in the catalogue, or -1. */
int mf_facts_lookup(const char *path);
/* The root word of a path ("probe" of "probe.tls.version"); false when none matches. */
bool mf_fact_root_parse(const char *word, size_t len, mf_fact_root *out);
const char *mf_fact_root_name(mf_fact_root r);
/* Whether an entity of scope has the root object r. */
bool mf_facts_scope_has_root(mf_scope scope, mf_fact_root r);
const char *mf_fact_type_name(mf_fact_type t);
void mf_fact_mask_set(mf_fact_mask *m, int idx);
void mf_fact_mask_all(mf_fact_mask *m);
bool mf_fact_mask_has(const mf_fact_mask *m, int idx);

/* The facts of one entity: one object per root. root[i] is borrowed. NULL means the
 * whole object is unknown (why[i] says why, may be NULL); a JSON null means it is known
 * not to exist (an account without a server). Any object may carry a "_why" string
 * member explaining why some of its members are absent (unknown). */
typedef struct mf_facts {
    json_t *root[MF_ROOT__COUNT];
    const char *why[MF_ROOT__COUNT];
} mf_facts;

/* What a result is about, for output and for waiver matching. Strings are borrowed. */
typedef struct mf_entity {
    const char *label;       /* "s1 smtp.example.com:587 (alice, apple-mail)" */
    const char *server;      /* "smtp.example.com:587", "provider:icloud", or NULL */
    const char *server_host; /* "smtp.example.com", "provider:icloud", or NULL */
} mf_entity;

/* The facts of every entity of one report, built once and shared between entities
 * (a server's facts reference the same probe object as the probe scope's). */
typedef struct mf_host_facts mf_host_facts;

/* Build the facts of report r. mask says which facts to build (NULL: all of them);
 * as_of (seconds since the epoch, UTC) is the reference time for ages in days.
 * *out belongs to the caller (mf_host_facts_free). r must outlive *out. */
mf_code mf_host_facts_build(mf_host_facts **out, const mf_report *r, const mf_fact_mask *mask,
                            int64_t as_of, mf_error *err);
void mf_host_facts_free(mf_host_facts *hf);
/* Number of entities of a scope in the report (host: 1; fleet-server: 0). */
size_t mf_host_facts_count(const mf_host_facts *hf, mf_scope scope);
/* The facts and entity of the i-th entity of scope (i < count). Borrowed from hf. */
void mf_host_facts_get(const mf_host_facts *hf, mf_scope scope, size_t i, mf_facts *out,
                       mf_entity *ent);
/* The host's id and host name (hostname may be NULL). */
const char *mf_host_facts_host_id(const mf_host_facts *hf);
const char *mf_host_facts_hostname(const mf_host_facts *hf);

/* Fleet-wide facts per server (hostname, port, provider), aggregated incrementally so
 * memory grows with the number of distinct servers, not hosts. */
typedef struct mf_fleet mf_fleet;

/* A new aggregator holding at most max_servers distinct servers (0: a default of
 * 1,000,000); past that, new servers are counted in mf_fleet_dropped and ignored. */
mf_code mf_fleet_new(mf_fleet **out, size_t max_servers);
void mf_fleet_free(mf_fleet *f);
/* History: any report of any age (first and last seen, last successful probe, first
 * probe). `check` feeds every report here, `report` the latest ones. */
mf_code mf_fleet_add_history(mf_fleet *f, const mf_report *r, mf_error *err);
/* Current state: the latest report of one host (hosts and accounts using each server,
 * probes per host, DNS). Feed each host's latest report exactly once. */
mf_code mf_fleet_add_latest(mf_fleet *f, const mf_report *r, mf_error *err);
/* Widen first/last seen (and last successful probe when last_ok > 0) of a server from
 * a longer history than the reports fed (the store's inventory). A server no latest
 * report has is ignored (it is no longer configured anywhere). */
mf_code mf_fleet_add_seen(mf_fleet *f, const char *hostname, int port, const char *provider,
                          int64_t first_seen, int64_t last_seen, int64_t last_ok, mf_error *err);
/* Widen the probe history of a server (hostname, port): first_probed is when a probe of
 * it first ran, last_ok when one last succeeded (0: never / unknown). From the store's
 * whole history (mf_store_probe_history); ignored for servers no latest report has. */
mf_code mf_fleet_add_probes(mf_fleet *f, const char *hostname, int port, int64_t first_probed,
                            int64_t last_ok, mf_error *err);
/* Which of the longer-history feeds the facts in mask depend on (mask NULL: every fact):
 * *seen when some fact takes its value from mf_fleet_add_seen (first/last seen and the
 * days since), *probes when some fact does from mf_fleet_add_probes (failing_days).
 * `report` runs the store's whole-history queries only when these say so; every other
 * fleet-server fact comes from the latest reports alone. Kept next to mf_fleet_facts so
 * that a new fact reading the history is listed here too (test_policy_facts checks
 * every fact of the catalogue against both feeds). */
void mf_fleet_history_needs(const mf_fact_mask *mask, bool *seen, bool *probes);
/* Add everything src aggregated to dst (src is left as it is). Used to combine the
 * aggregators of parallel workers, each of which saw different hosts. */
mf_code mf_fleet_merge(mf_fleet *dst, const mf_fleet *src, mf_error *err);
/* Number of servers currently configured somewhere (fleet-server entities). */
size_t mf_fleet_count(mf_fleet *f);
/* Servers ignored because of the max_servers cap. */
size_t mf_fleet_dropped(const mf_fleet *f);
/* The facts object of the i-th server (sorted by host name, port, provider) as a new
 * reference in *out, and its entity (strings valid until the fleet is freed or changed).
 * mask NULL builds every fact. */
mf_code mf_fleet_facts(mf_fleet *f, size_t i, const mf_fact_mask *mask, int64_t as_of, json_t **out,
                       mf_entity *ent, mf_error *err);

/* ------------------------------------------------------------------ policies */

typedef enum mf_cond_kind { MF_COND_ALL = 0, MF_COND_ANY, MF_COND_NOT, MF_COND_LEAF } mf_cond_kind;

typedef struct mf_cond mf_cond;
struct mf_cond {
    mf_cond_kind kind;
    /* all / any: kids[0..nkids); not: kids[0] */
    mf_cond *kids;
    size_t nkids;
    /* leaf */
    char *path;        /* as written, "probe.tls.version" */
    int fact;          /* catalogue index */
    mf_fact_root root; /* first segment */
    char **segs;       /* the remaining segments */
    size_t nsegs;
    mf_op op;
    json_t *value; /* parameters substituted; NULL for exists/missing */
    char *param;   /* "$name" when value came from a parameter, else NULL */
    char *text;    /* the leaf in words for messages ("server.port in [465, 587]"), made
                    * once when the policy loads (mf_cond_describe) */
    regex_t *re;   /* compiled patterns for regex (nre of them) */
    size_t nre;
};

typedef struct mf_rule {
    char *id;
    char *title;
    mf_severity severity;
    mf_scope scope;
    mf_cond *when; /* NULL: always applicable */
    mf_cond *expect;
    char *description;
    char *rationale;
    char *remediation_user;
    char *remediation_admin;
    mf_strv references;
    mf_strv tags;
    size_t file;  /* index into mf_policy.files of the file that defines it */
    size_t index; /* position in mf_policy.rules */
} mf_rule;

/* One policy file that was loaded (the top one first, then includes depth first). */
typedef struct mf_policy_file {
    char *path; /* as opened */
    char *id;
    char *title;
    char *version;
    json_t *parameters; /* {name: value} after defaults and overrides */
} mf_policy_file;

typedef struct mf_policy {
    char *id; /* of the top file */
    char *title;
    char *version;
    char *path;
    mf_rule *rules;
    size_t nrules;
    mf_policy_file *files;
    size_t nfiles;
    mf_fact_mask mask; /* facts any rule reads */
    bool has_fleet_rules;
    bool scopes[MF_SCOPE__COUNT]; /* scopes that have rules */
} mf_policy;

/* How includes are read. read() gets the path to open (already joined with the
 * including file's folder) and returns its bytes in *data (caller frees) and a
 * canonical key in *canon (caller frees; used to detect include cycles). */
typedef struct mf_policy_loader {
    mf_code (*read)(void *ctx, const char *path, char **data, size_t *len, char **canon,
                    mf_error *err);
    void *ctx;
} mf_policy_loader;

/* Load the policy file at path with everything it includes (relative to the including
 * file). Strict: unknown members, wrong types, unknown fact paths, operators that do not
 * fit a fact's type, unknown parameters, bad patterns, duplicate rule ids and include
 * cycles are errors. err names the file, the line and column when the JSON does not
 * parse, and else the JSON path (rules[3].expect.all[1].op). *out belongs to the caller
 * (mf_policy_free). */
mf_code mf_policy_load(mf_policy **out, const char *path, mf_error *err);
/* The same with a custom loader for the top file and its includes (tests, fuzzing). */
mf_code mf_policy_load_with(mf_policy **out, const char *path, const mf_policy_loader *loader,
                            mf_error *err);
/* Parse a policy from memory; name is used in messages and as the folder includes are
 * relative to. loader may be NULL, and an include is then an error. */
mf_code mf_policy_parse(mf_policy **out, const char *data, size_t len, const char *name,
                        const mf_policy_loader *loader, mf_error *err);
void mf_policy_free(mf_policy *p);
/* The rule with that id, or NULL. */
const mf_rule *mf_policy_find_rule(const mf_policy *p, const char *id);

/* ------------------------------------------------------------------ matching */

/* fnmatch(3)-style glob match with flags 0: `*`, `?`, bracket expressions with ranges,
 * `!`/`^` negation and [:class:] names, and `\` escapes. Unlike glibc's fnmatch it runs
 * in O(len(pattern) * len(s)) time whatever the pattern. */
bool mf_glob_match(const char *pattern, const char *s);
/* Check a glob pattern: non-empty, at most MF_POLICY_PATTERN_MAX bytes, brackets
 * closed. On failure writes the reason to why. */
bool mf_glob_valid(const char *pattern, char *why, size_t whysz);
/* Check and compile a POSIX extended regular expression, refusing what could make
 * matching slow or memory-hungry: back-references, patterns longer than
 * MF_POLICY_PATTERN_MAX, and bounded repetitions whose expansion exceeds
 * MF_POLICY_REGEX_EXPANSION_MAX. On success *re is compiled (REG_EXTENDED|REG_NOSUB);
 * regfree it. On failure writes the reason to why. */
bool mf_regex_compile(regex_t *re, const char *pattern, char *why, size_t whysz);

/* ------------------------------------------------------------------ evaluation */

typedef enum mf_tri { MF_TRI_FALSE = 0, MF_TRI_TRUE = 1, MF_TRI_UNKNOWN = 2 } mf_tri;

/* Why a condition came out the way it did: the leaf that decided it, and the value it
 * saw (borrowed from the facts; NULL when unknown), or the reason it was unknown. */
typedef struct mf_witness {
    const mf_cond *leaf;
    const json_t *value;
    const char *why;
    bool negated; /* an odd number of `not` lie between the root and the leaf */
} mf_witness;

/* The leaf c in words, as messages show it: "server.port in [465, 587] ($ports)". */
void mf_cond_describe(const mf_cond *c, char *out, size_t outsz);

/* Evaluate condition c over facts (Kleene logic for all/any/not). w may be NULL. */
mf_tri mf_cond_eval(const mf_cond *c, const mf_facts *facts, mf_witness *w);

/* The state a rule gives on one entity, before waivers. */
typedef enum mf_rule_state {
    MF_RULE_PASS = 0,
    MF_RULE_FAIL,
    MF_RULE_ERROR,
    MF_RULE_NOTAPPLICABLE
} mf_rule_state;

/* Evaluate a rule on one entity: `when` unknown or false gives error or notapplicable,
 * then `expect` true / false / unknown gives pass / fail / error. A one-line
 * explanation goes to msg (always NUL-terminated). */
mf_rule_state mf_rule_eval(const mf_rule *rule, const mf_facts *facts, char *msg, size_t msgsz);

/* ------------------------------------------------------------------ waivers */

typedef enum mf_waiver_status {
    MF_WAIVER_ACTIVE = 0,  /* in force (whether or not it matched anything) */
    MF_WAIVER_EXPIRED,     /* its expiry date has passed: it no longer applies */
    MF_WAIVER_UNKNOWN_RULE /* names a rule the policy does not have */
} mf_waiver_status;

typedef struct mf_waiver {
    char *rule;
    char *host;   /* glob on host id or host name */
    char *server; /* glob on "hostname", "hostname:port" or "provider:NAME" */
    char *justification;
    char *approved_by;   /* NULL when not given */
    char expires[11];    /* YYYY-MM-DD */
    int64_t expires_end; /* first second after the expiry day (UTC) */
    mf_waiver_status status;
    size_t matched;      /* results it waived (active) or would have waived (expired) */
    size_t matched_pass; /* results it matched that passed anyway */
} mf_waiver;

typedef struct mf_waivers {
    char *path;
    mf_waiver *v;
    size_t n;
    /* filled by mf_waivers_bind: per rule index, the waivers naming that rule */
    size_t **by_rule;
    size_t *by_rule_n;
    size_t nrules;
} mf_waivers;

#define MF_WAIVERS_MAX_BYTES (1024 * 1024)
#define MF_WAIVERS_MAX       10000

/* Load a waivers file ({"waivers": [...]}, docs/waivers.md). Strict: a malformed file
 * is an error naming the file, the line and column (JSON syntax) or the entry and member
 * (waivers[2].expires: ...), so that a run stops before evaluating anything. */
mf_code mf_waivers_load(mf_waivers **out, const char *path, mf_error *err);
mf_code mf_waivers_parse(mf_waivers **out, const char *data, size_t len, const char *name,
                         mf_error *err);
void mf_waivers_free(mf_waivers *w);
/* Tie the waivers to a policy and a date: a waiver whose expiry day lies before as_of's
 * day is expired; one naming no rule of p is unknown-rule. Call once before matching. */
mf_code mf_waivers_bind(mf_waivers *w, const mf_policy *p, int64_t as_of, mf_error *err);
/* The first active waiver of rule (by index) whose host and server patterns match, or
 * NULL; *expired receives the first matching expired waiver when no active one matches
 * (else NULL). host_id/hostname/server/server_host may be NULL (they then match only a
 * pattern that matches the empty string, such as "*"). */
mf_waiver *mf_waivers_match(mf_waivers *w, size_t rule_index, const char *host_id,
                            const char *hostname, const mf_entity *ent, mf_waiver **expired);
const char *mf_waiver_status_name(mf_waiver_status s);

/* Parse "YYYY-MM-DD" (a real calendar day) into the first second of that day (UTC). */
mf_code mf_date_parse(const char *s, int64_t *out);

#endif
