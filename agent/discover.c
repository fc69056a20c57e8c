#include "discover.h"
#include "fileio.h"
#include "log.h"
#include "platform.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const mf_source_ops *const home_sources[] = {
    &mf_source_accounts_plist,
    &mf_source_accounts_sqlite,
    &mf_source_thunderbird,
    &mf_source_mailmate,
};

static mf_code scan_home(mf_report *r, const mf_home *home, const mf_scan_opts *opts)
{
    for (size_t i = 0; i < MF_ARRAY_LEN(home_sources); i++) {
        size_t before = r->nsources;
        mf_code rc = home_sources[i]->scan(r, home, opts);
        if (rc != MF_OK)
            return rc;
        mf_log_debug("%s: %s: %zu source file(s)", home->path, home_sources[i]->format,
                     r->nsources - before);
    }
    return MF_OK;
}

static const char *base_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    const char *p = path + n;
    while (p > path && p[-1] != '/')
        p--;
    return p;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every subfolder of root except dot folders and macOS's "Shared" and "Guest". */
static mf_code scan_users_root(mf_report *r, const char *root, const mf_scan_opts *opts)
{
    DIR *d = opendir(root);
    if (!d) {
        int e = errno;
        int idx;
        if (mf_report_add_source(r, "", "system", "users-root", root, &idx))
            return MF_ERR_NOMEM;
        char msg[512];
        snprintf(msg, sizeof(msg), "%s: cannot list the users folder: %s", root, strerror(e));
        mf_report_source_fail(r, idx, e == ENOENT ? MF_SRC_MISSING : MF_SRC_UNREADABLE, msg);
        return MF_OK;
    }
    mf_strv names = {0};
    struct dirent *de;
    mf_code rc = MF_OK;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "Shared") == 0 ||
            strcmp(de->d_name, "Guest") == 0)
            continue;
        if ((rc = mf_strv_push(&names, de->d_name)))
            break;
    }
    closedir(d);
    if (names.n)
        qsort(names.v, names.n, sizeof(char *), cmp_str);
    for (size_t i = 0; rc == MF_OK && i < names.n; i++) {
        char *path = mf_path_join(root, names.v[i]);
        if (!path) {
            rc = MF_ERR_NOMEM;
            break;
        }
        if (mf_path_is_dir(path)) {
            mf_home h = {.user = names.v[i], .path = path};
            rc = scan_home(r, &h, opts);
        }
        free(path);
    }
    mf_strv_free(&names);
    return rc;
}

mf_code mf_discover(mf_report *r, const mf_discover_opts *opts)
{
    mf_code rc = MF_OK;
    bool any_home = opts->nhomes > 0;
    for (size_t i = 0; i < opts->nhomes; i++) {
        const char *p = opts->homes[i];
        char *user = mf_strdup(base_name(p));
        char *path = mf_strdup(p);
        if (!user || !path) {
            free(user);
            free(path);
            return MF_ERR_NOMEM;
        }
        /* A trailing slash would leave "" as the user name. */
        char *slash = strchr(user, '/');
        if (slash)
            *slash = '\0';
        if (!mf_path_is_dir(path)) {
            int idx;
            rc = mf_report_add_source(r, user, "system", "home", path, &idx);
            if (rc == MF_OK)
                mf_report_source_fail(r, idx, mf_path_exists(path) ? MF_SRC_UNREADABLE : MF_SRC_MISSING,
                                      "the home folder does not exist or is not a folder");
        } else {
            mf_home h = {.user = user, .path = path};
            rc = scan_home(r, &h, &opts->scan);
        }
        free(user);
        free(path);
        if (rc)
            return rc;
    }
    if (opts->users_root || !any_home) {
        const char *root = opts->users_root ? opts->users_root : mf_default_users_root();
        if ((rc = scan_users_root(r, root, &opts->scan)))
            return rc;
    }
    for (size_t i = 0; i < opts->nprofile_dirs; i++)
        if ((rc = mf_profiles_scan_dir(r, opts->profile_dirs[i], &opts->scan)))
            return rc;
    if (opts->installed_profiles && (rc = mf_platform_scan_installed_profiles(r, &opts->scan)))
        return rc;
    mf_report_compute_findings(r);
    return MF_OK;
}

size_t mf_report_failed_sources(const mf_report *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nsources; i++) {
        mf_source_status s = r->sources[i].status;
        /* A home or users root the operator named and that is not there counts too. */
        bool named = mf_streq(r->sources[i].client, "system");
        if (s == MF_SRC_UNREADABLE || s == MF_SRC_MALFORMED || s == MF_SRC_TOO_LARGE ||
            (named && s == MF_SRC_MISSING))
            n++;
    }
    return n;
}

const char *mf_default_users_root(void)
{
    return mf_platform_users_root();
}
