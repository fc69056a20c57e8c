/* PLACEHOLDER: replaced by the real source module. */
#include "source.h"
mf_code mf_profiles_scan_dir(mf_report *r, const char *dir, const mf_scan_opts *opts)
{
    (void)r; (void)dir; (void)opts;
    return MF_OK;
}
mf_code mf_profiles_scan_file(mf_report *r, const char *path, const mf_scan_opts *opts)
{
    (void)r; (void)path; (void)opts;
    return MF_OK;
}
