/* PLACEHOLDER: replaced by the real source module. */
#include "source.h"
static mf_code scan(mf_report *r, const mf_home *home, const mf_scan_opts *opts)
{
    (void)r; (void)home; (void)opts;
    return MF_OK;
}
const mf_source_ops mf_source_accounts_plist = {"accounts-plist", "apple-mail", scan};
