/* macOS host identity: the serial number and hardware UUID from IOKit's platform
 * expert, the OS version from sysctl kern.osproductversion. Built only on Apple
 * platforms (see common/CMakeLists.txt). */
#include "hostid.h"
#include "util.h"

#include <CoreFoundation/CoreFoundation.h>
#include <IOKit/IOKitLib.h>
#include <stdlib.h>
#include <sys/sysctl.h>
#include <unistd.h>

static char *platform_string(CFStringRef key)
{
    io_service_t svc =
        IOServiceGetMatchingService(kIOMainPortDefault, IOServiceMatching("IOPlatformExpertDevice"));
    if (!svc)
        return NULL;
    char *out = NULL;
    CFTypeRef v = IORegistryEntryCreateCFProperty(svc, key, kCFAllocatorDefault, 0);
    if (v && CFGetTypeID(v) == CFStringGetTypeID()) {
        char buf[256];
        if (CFStringGetCString((CFStringRef)v, buf, sizeof(buf), kCFStringEncodingUTF8))
            out = mf_strdup(buf);
    }
    if (v)
        CFRelease(v);
    IOObjectRelease(svc);
    return out;
}

mf_code mf_hostid_get(mf_host *h)
{
    char name[256];
    if (gethostname(name, sizeof(name)) == 0) {
        name[sizeof(name) - 1] = '\0';
        h->hostname = mf_strdup(name);
    }
    h->id = platform_string(CFSTR(kIOPlatformSerialNumberKey));
    if (!h->id)
        h->id = platform_string(CFSTR(kIOPlatformUUIDKey));
    if (!h->id)
        h->id = mf_strdup(h->hostname ? h->hostname : "unknown");
    h->os_name = mf_strdup("macOS");
    char ver[64];
    size_t len = sizeof(ver);
    if (sysctlbyname("kern.osproductversion", ver, &len, NULL, 0) == 0 && len > 0) {
        ver[sizeof(ver) - 1] = '\0';
        h->os_version = mf_strdup(ver);
    }
    return h->id ? MF_OK : MF_ERR_NOMEM;
}
