/* report_html_assets.h: the constant style sheet and script of the HTML report
 * (report_html_assets.c explains the characters they must avoid). */
#ifndef MF_REPORT_HTML_ASSETS_H
#define MF_REPORT_HTML_ASSETS_H

extern const char mf_rpt_html_css[];
extern const char mf_rpt_html_js[];

#endif
