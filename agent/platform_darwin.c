/* macOS side of platform.h. Installed configuration profiles are readable (as root)
 * under /var/db/ConfigurationProfiles/Store; each installed profile's payloads are kept
 * there as plists that the profile source understands. */
#include "platform.h"
#include "fileio.h"

#include <Security/Security.h>

const char *mf_platform_users_root(void)
{
    return "/Users";
}

mf_code mf_platform_scan_installed_profiles(mf_report *r, const mf_scan_opts *opts)
{
    const char *dir = "/var/db/ConfigurationProfiles/Store";
    if (!mf_path_is_dir(dir))
        return MF_OK;
    return mf_profiles_scan_dir(r, dir, opts);
}

bool mf_platform_keychain_has_password(const char *host, const char *user)
{
    /* SecItemCopyMatching without kSecReturnData: asks only whether an item exists,
     * so the secret never enters this process. */
    CFStringRef h = CFStringCreateWithCString(NULL, host, kCFStringEncodingUTF8);
    CFStringRef u = CFStringCreateWithCString(NULL, user ? user : "", kCFStringEncodingUTF8);
    const void *keys[] = {kSecClass, kSecAttrServer, kSecAttrAccount, kSecMatchLimit};
    const void *vals[] = {kSecClassInternetPassword, h, u, kSecMatchLimitOne};
    CFDictionaryRef q = CFDictionaryCreate(NULL, keys, vals, 4, &kCFTypeDictionaryKeyCallBacks,
                                           &kCFTypeDictionaryValueCallBacks);
    OSStatus st = SecItemCopyMatching(q, NULL);
    CFRelease(q);
    CFRelease(h);
    CFRelease(u);
    return st == errSecSuccess;
}
