/* hostid.h: who this machine is. One implementation per platform:
 * hostid_darwin.c (IOKit serial number / hardware UUID, sw_vers) and hostid_linux.c
 * (/etc/machine-id, /etc/os-release). CMake picks the file; no #ifdefs in callers. */
#ifndef MF_HOSTID_H
#define MF_HOSTID_H

#include "report.h"

/* Fill h (whose strings must be NULL) with the machine's identity. The id is the
 * serial number, else the hardware UUID / machine id, else the host name. Never fails
 * for lack of information: missing parts stay NULL (the id falls back to "unknown"). */
mf_code mf_hostid_get(mf_host *h);

#endif
