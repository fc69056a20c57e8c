/* privacy.h: pseudonymising a report before it leaves the Mac (privacy = "pseudonymise").
 *
 * Every name and address that identifies a person is replaced by a keyed hash:
 * HMAC-SHA256 under the fleet key, the first 16 hex digits (64 bits) kept. The same
 * input gives the same pseudonym on every Mac of the fleet, so the collector can still
 * count how many Macs a user or an address appears on, and an administrator who knows
 * the key can check a given name (docs/configuration.md shows the openssl command);
 * without the key the names cannot be recovered.
 *
 *   user names      (local macOS users, SMTP user names without '@'):
 *                   "alice"             -> "u-1f0e2d3c4b5a6978"
 *                   HMAC over the exact bytes: user names are compared as stored.
 *   e-mail addresses (account addresses, SMTP user names with '@', addresses inside
 *                   descriptions, identifiers and paths):
 *                   "Alice@Example.COM" -> "u-<hmac of alice@example.com>@example.com"
 *                   HMAC over the whole address lower-cased; the domain stays readable
 *                   (lower-cased) so administrators still see which domain it is.
 *
 * Replaced fields: sources[].user, .path, .error; servers[].user, .username,
 * .description, .identifier; accounts[].user, .emails, .description, .smtp_ref; and
 * host.hostname when MF_PRIVACY_HOSTNAME is set (Macs are often named after their
 * user). In free text (paths, descriptions, identifiers, errors) every e-mail address
 * is replaced, then every whole-word occurrence of a user name found in the report
 * ("/Users/alice/Library" -> "/Users/u-…/Library"; words are separated by anything
 * but letters, digits, '_' and non-ASCII bytes, so "alice.old" loses its "alice" too). Server host
 * names, ports, probe results and host.id stay as they are: they describe machines, not people.
 */
#ifndef MF_PRIVACY_H
#define MF_PRIVACY_H

#include "report.h"

#include <stddef.h>

/* Also replace host.hostname. */
#define MF_PRIVACY_HOSTNAME 1u

/* Length of the hex part of a pseudonym. */
#define MF_PSEUDONYM_HEX 16

/* Pseudonymise r in place under key (keylen bytes, > 0). Returns MF_ERR_NOMEM (r is
 * then partly pseudonymised and must not be shipped) or MF_OK. Not idempotent: a
 * pseudonym run through again becomes another pseudonym. */
mf_code mf_privacy_pseudonymise(mf_report *r, const unsigned char *key, size_t keylen,
                                unsigned flags);

/* The pseudonym of one value: an address (it contains '@' with text on both sides)
 * becomes "u-<hex>@domain", anything else "u-<hex>". New string (caller frees); NULL on
 * OOM or NULL input. */
char *mf_privacy_pseudonym(const unsigned char *key, size_t keylen, const char *value);

#endif
