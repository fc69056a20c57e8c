/* Linux (and other non-Apple) locations: /etc for what the administrator writes,
 * /var/spool for the queue. There are no managed preferences. */
#include "config_paths.h"

const char *const *mf_config_base_paths(void)
{
    static const char *const paths[] = {"/etc/mailfleet/agent.json", "/etc/mailfleet/agent.plist",
                                        NULL};
    return paths;
}

const char *mf_config_managed_path(void)
{
    return NULL;
}

const char *mf_config_default_identity(void)
{
    return "/etc/mailfleet/id_ed25519";
}

const char *mf_config_default_known_hosts(void)
{
    return "/etc/mailfleet/known_hosts";
}

const char *mf_config_default_outbox(void)
{
    return "/var/spool/mailfleet-agent/outbox";
}
