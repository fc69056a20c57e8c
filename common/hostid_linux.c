/* Linux host identity: /etc/machine-id and /etc/os-release. Used on CI and on
 * collector hosts; the agent's real home is macOS (hostid_darwin.c). */
#include "hostid.h"
#include "fileio.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Value of KEY= in os-release text, unquoted. */
static char *os_release_value(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len > kl && strncmp(line, key, kl) == 0 && line[kl] == '=') {
            const char *v = line + kl + 1;
            size_t vl = len - kl - 1;
            if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
                v++;
                vl -= 2;
            }
            return mf_strndup(v, vl);
        }
        line = nl ? nl + 1 : NULL;
    }
    return NULL;
}

mf_code mf_hostid_get(mf_host *h)
{
    char name[256];
    if (gethostname(name, sizeof(name)) == 0) {
        name[sizeof(name) - 1] = '\0';
        h->hostname = mf_strdup(name);
    }
    char *data = NULL;
    if (mf_file_read("/etc/machine-id", 4096, &data, NULL, NULL) == MF_OK) {
        char *id = mf_str_trim_lower(data);
        if (id && *id)
            h->id = id;
        else
            free(id);
        free(data);
    }
    if (!h->id)
        h->id = mf_strdup(h->hostname ? h->hostname : "unknown");
    data = NULL;
    if (mf_file_read("/etc/os-release", 65536, &data, NULL, NULL) == MF_OK ||
        mf_file_read("/usr/lib/os-release", 65536, &data, NULL, NULL) == MF_OK) {
        h->os_name = os_release_value(data, "NAME");
        h->os_version = os_release_value(data, "VERSION_ID");
        free(data);
    }
    if (!h->os_name)
        h->os_name = mf_strdup("Linux");
    return h->id ? MF_OK : MF_ERR_NOMEM;
}
