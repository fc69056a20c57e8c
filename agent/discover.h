/* discover.h: find every home to scan and run every source over it. */
#ifndef MF_DISCOVER_H
#define MF_DISCOVER_H

#include "report.h"
#include "source.h"

typedef struct mf_discover_opts {
    const char *const *homes; /* --home DIR (repeatable) */
    size_t nhomes;
    const char *users_root;   /* --users-root DIR; NULL: the platform default when no --home */
    const char *const *profile_dirs; /* --profiles DIR (repeatable) */
    size_t nprofile_dirs;
    bool installed_profiles;  /* also read the OS's installed profiles (macOS) */
    mf_scan_opts scan;
} mf_discover_opts;

/* The platform's default users root: /Users on macOS, /home elsewhere. */
const char *mf_default_users_root(void); /* = mf_platform_users_root() */

/* Scan every home and profile source into r, then compute the findings.
 * A users root that cannot be listed is recorded as a failed source ("users-root"),
 * not a fatal error. Returns MF_OK unless out of memory. */
mf_code mf_discover(mf_report *r, const mf_discover_opts *opts);

/* The number of sources whose status counts as a failure (unreadable, malformed,
 * too-large, and a --home or users root that is missing). A missing client file does
 * not count: it means a file that another file named is absent, which is worth
 * reporting but not a failure of the agent. */
size_t mf_report_failed_sources(const mf_report *r);

#endif
