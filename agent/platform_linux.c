/* Linux side of platform.h: used on CI and for development. Linux has no installed
 * Mail profiles and no keychain. */
#include "platform.h"

const char *mf_platform_users_root(void)
{
    return "/home";
}

mf_code mf_platform_scan_installed_profiles(mf_report *r, const mf_scan_opts *opts)
{
    (void)r;
    (void)opts;
    return MF_OK;
}

bool mf_platform_keychain_has_password(const char *host, const char *user)
{
    (void)host;
    (void)user;
    return false;
}
