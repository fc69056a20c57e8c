/* progress.c: see progress.h. */
#include "progress.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define REDRAW_MS 250

bool mf_progress_wanted(bool turned_off, int verbosity)
{
    return !turned_off && verbosity >= 0 && isatty(STDERR_FILENO);
}

void mf_progress_start(mf_progress *p, bool on, const char *label, const char *unit, size_t total)
{
    p->on = on;
    p->shown = false;
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->start_ms = on ? mf_now_ms() : 0;
    p->last_ms = p->start_ms;
    /* Tests: draw every update and the final line however quick the run. */
    p->every = on && getenv("MF_PROGRESS_EVERY") != NULL;
}

static void draw(mf_progress *p, size_t done, int64_t now)
{
    double secs = (double)(now - p->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)done / secs : 0;
    if (p->total) {
        char eta[32] = "?";
        if (rate > 0 && p->total >= done) {
            long long left = (long long)((double)(p->total - done) / rate);
            snprintf(eta, sizeof(eta), "%lld:%02lld", left / 60, left % 60);
        }
        fprintf(stderr, "\r%s: %zu/%zu (%3.0f%%)  %.0f %s/s  ETA %s   ", p->label, done, p->total,
                100.0 * (double)done / (double)p->total, rate, p->unit, eta);
    } else {
        fprintf(stderr, "\r%s: %zu %s  %.0f %s/s   ", p->label, done, p->unit, rate, p->unit);
    }
    fflush(stderr);
    p->shown = true;
}

void mf_progress_update(mf_progress *p, size_t done)
{
    if (!p->on)
        return;
    int64_t now = mf_now_ms();
    if (!p->every && now - p->last_ms < REDRAW_MS)
        return;
    p->last_ms = now;
    draw(p, done, now);
}

void mf_progress_end(mf_progress *p, size_t done)
{
    if (!p->on)
        return;
    int64_t now = mf_now_ms();
    if (!p->every && !p->shown && now - p->start_ms < 1000) {
        p->on = false;
        return;
    }
    draw(p, done, now);
    fputc('\n', stderr);
    fflush(stderr);
    p->on = false;
    p->shown = false;
}
