/* platform.h: the agent's few platform-specific calls, one file per platform
 * (platform_darwin.c, platform_linux.c), so the logic has no #ifdef __APPLE__. */
#ifndef MF_PLATFORM_H
#define MF_PLATFORM_H

#include "report.h"
#include "source.h"

#include <stdbool.h>

/* The default folder that holds the users' homes: /Users on macOS, /home on Linux. */
const char *mf_platform_users_root(void);

/* Read the configuration profiles the OS has installed (macOS: the output of
 * `profiles show -output stdout-xml` is not used; we read the managed preferences
 * folder). On Linux there are none: returns MF_OK having added nothing. */
mf_code mf_platform_scan_installed_profiles(mf_report *r, const mf_scan_opts *opts);

/* True when the keychain holds an item for this server and user (never reads the
 * secret itself). Linux: always false. */
bool mf_platform_keychain_has_password(const char *host, const char *user);

#endif
