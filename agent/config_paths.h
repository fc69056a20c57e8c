/* config_paths.h: where the agent's configuration and state live on each platform
 * (config_paths_darwin.c, config_paths_linux.c), so config.c has no #ifdef. */
#ifndef MF_CONFIG_PATHS_H
#define MF_CONFIG_PATHS_H

#include <stddef.h>

/* The administrator's configuration files, most preferred first, NULL-terminated.
 * config.c reads the first one that exists. macOS:
 * /Library/Preferences/org.mailfleet.agent.plist. Linux: /etc/mailfleet/agent.json,
 * then /etc/mailfleet/agent.plist. Static storage. */
const char *const *mf_config_base_paths(void);

/* The file an MDM writes (managed preferences), which overrides the base file key by
 * key: /Library/Managed Preferences/org.mailfleet.agent.plist on macOS; NULL on Linux,
 * which has no such mechanism. Static storage. */
const char *mf_config_managed_path(void);

/* Built-in defaults for the paths the configuration names (static storage):
 * the SSH private key, the pinned known_hosts file and the outbox folder.
 * macOS: under /Library/Application Support/mailfleet; Linux: /etc/mailfleet for the
 * key and known_hosts, /var/spool/mailfleet-agent/outbox for the outbox. */
const char *mf_config_default_identity(void);
const char *mf_config_default_known_hosts(void);
const char *mf_config_default_outbox(void);

#endif
