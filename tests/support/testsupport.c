/* testsupport.c: see testsupport.h. */
#include "testsupport.h"

#include "report_json.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mft_mkdirs(const char *path)
{
    char *buf = mf_strdup(path);
    if (!buf)
        return -1;
    int rc = 0;
    for (char *p = buf + 1; *p && rc == 0; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            rc = -1;
        *p = '/';
    }
    if (rc == 0 && mkdir(buf, 0700) != 0 && errno != EEXIST)
        rc = -1;
    free(buf);
    return rc;
}

int mft_write_file(const char *path, const void *data, size_t len)
{
    char *dir = mf_strdup(path);
    if (!dir)
        return -1;
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = mft_mkdirs(dir);
    }
    free(dir);
    if (rc != 0)
        return -1;
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    if (len && fwrite(data, 1, len, f) != len)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

void mft_rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *sub = mft_join(path, e->d_name);
        if (sub)
            mft_rm_tree(sub);
        free(sub);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

char *mft_scratch_dir(const char *prefix)
{
    char tmpl[256];
    if ((size_t)snprintf(tmpl, sizeof(tmpl), "/tmp/%s-XXXXXX", prefix) >= sizeof(tmpl))
        return NULL;
    if (!mkdtemp(tmpl))
        return NULL;
    return mf_strdup(tmpl);
}

char *mft_join(const char *dir, const char *rel)
{
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, rel);
    return p;
}

char *mft_plist_bytes(plist_t p, bool binary, size_t *len)
{
    char *d = NULL;
    uint32_t n = 0;
    if (binary)
        plist_to_bin(p, &d, &n);
    else
        plist_to_xml(p, &d, &n);
    if (!d)
        return NULL;
    char *copy = malloc(n ? n : 1);
    if (copy)
        memcpy(copy, d, n);
    if (binary)
        plist_to_bin_free(d);
    else
        plist_to_xml_free(d);
    *len = n;
    return copy;
}

size_t mft_write_plist(const char *path, plist_t p, bool binary)
{
    size_t n = 0;
    char *bytes = mft_plist_bytes(p, binary, &n);
    if (!bytes)
        return 0;
    int rc = mft_write_file(path, bytes, n);
    free(bytes);
    return rc == 0 ? n : 0;
}

static void fill(char **field, const char *value)
{
    if (!*field)
        *field = mf_strdup(value);
}

int mft_report_clean(mf_report *r, const char *const *secrets, size_t n, char *why, size_t whylen)
{
    fill(&r->host.id, "test-host");
    fill(&r->host.hostname, "test-host");
    fill(&r->host.os_name, "macOS");
    fill(&r->host.os_version, "14.5");
    char *json = mf_report_encode(r, 0);
    if (!json) {
        snprintf(why, whylen, "the report does not encode");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (strstr(json, secrets[i])) {
            snprintf(why, whylen, "secret \"%s\" leaked into the report", secrets[i]);
            rc = -1;
        }
    mf_report *back = NULL;
    mf_error err;
    if (rc == 0 && mf_report_decode(&back, json, strlen(json), &err) != MF_OK) {
        snprintf(why, whylen, "the report does not decode: %s: %s", err.field, err.text);
        rc = -1;
    }
    mf_report_free(back);
    free(json);
    return rc;
}
