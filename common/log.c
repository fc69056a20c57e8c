#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static const char *log_prog = "mailfleet";
static mf_log_level log_level = MF_LOG_WARN;

void mf_log_init(const char *progname, mf_log_level level)
{
    if (progname)
        log_prog = progname;
    log_level = level;
}

void mf_log_set_level(mf_log_level level)
{
    log_level = level;
}

mf_log_level mf_log_get_level(void)
{
    return log_level;
}

void mf_log(mf_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug", "trace"};
    if (level > log_level)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One fprintf per message keeps lines whole when probe threads log at once. */
    fprintf(stderr, "%s: %s: %s\n", log_prog, names[level], line);
}
