/* macOS locations: the preferences domain org.mailfleet.agent, as an MDM delivers it. */
#include "config_paths.h"

const char *const *mf_config_base_paths(void)
{
    static const char *const paths[] = {"/Library/Preferences/org.mailfleet.agent.plist", NULL};
    return paths;
}

const char *mf_config_managed_path(void)
{
    return "/Library/Managed Preferences/org.mailfleet.agent.plist";
}

const char *mf_config_default_identity(void)
{
    return "/Library/Application Support/mailfleet/id_ed25519";
}

const char *mf_config_default_known_hosts(void)
{
    return "/Library/Application Support/mailfleet/known_hosts";
}

const char *mf_config_default_outbox(void)
{
    return "/Library/Application Support/mailfleet/outbox";
}
