/* log.h: leveled logging to stderr. -q lowers the level to errors only, each -v
 * raises it. The level is process-wide configuration (set once by main), not error
 * state, so a global is the right shape here. */
#ifndef MF_LOG_H
#define MF_LOG_H

typedef enum mf_log_level {
    MF_LOG_ERROR = 0,
    MF_LOG_WARN = 1,
    MF_LOG_INFO = 2,
    MF_LOG_DEBUG = 3,
    MF_LOG_TRACE = 4,
} mf_log_level;

/* Set the program name shown in front of messages ("mailfleet-agent"). */
void mf_log_init(const char *progname, mf_log_level level);
void mf_log_set_level(mf_log_level level);
mf_log_level mf_log_get_level(void);
void mf_log(mf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define mf_log_error(...) mf_log(MF_LOG_ERROR, __VA_ARGS__)
#define mf_log_warn(...) mf_log(MF_LOG_WARN, __VA_ARGS__)
#define mf_log_info(...) mf_log(MF_LOG_INFO, __VA_ARGS__)
#define mf_log_debug(...) mf_log(MF_LOG_DEBUG, __VA_ARGS__)
#define mf_log_trace(...) mf_log(MF_LOG_TRACE, __VA_ARGS__)

#endif
