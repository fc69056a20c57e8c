/* fuzz_agent_config.c: the agent's configuration reader (config.c) on arbitrary bytes,
 * as JSON or a property list (XML or binary) by content.
 *
 * Invariants: it accepts or refuses with a reason (and, for a key's problem, the key);
 * an accepted configuration has its numbers within their documented ranges. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MF_CONFIG_MAX_BYTES)
        return 0;
    mf_agent_config c;
    mf_error err;
    mf_error_clear(&err);
    if (mf_agent_config_init(&c) != MF_OK) {
        mf_agent_config_free(&c);
        return 0;
    }
    mf_code rc = mf_agent_config_apply_buffer(&c, "fuzz", (const char *)data, size, &err);
    if (rc == MF_ERR_CONFIG && err.text[0] == '\0')
        abort();
    if (rc == MF_OK) {
        if (c.collector_port < 1 || c.collector_port > 65535 || c.outbox_max_reports < 1 ||
            c.outbox_max_bytes < 65536 || c.ssh_timeout_s < 1 || c.probe_concurrency < 1 ||
            c.fleet_key_len > MF_FLEET_KEY_MAX ||
            (c.fleet_key_len != 0 && c.fleet_key_len < MF_FLEET_KEY_MIN))
            abort();
        (void)mf_agent_config_check(&c, &err);
    }
    mf_agent_config_free(&c);
    return 0;
}
