/* nskeyed.h: turning NSKeyedArchiver archives (and the other shapes Apple stores in
 * ZACCOUNTPROPERTY.ZVALUE) into plain libplist trees.
 *
 * An NSKeyedArchiver archive is a plist (binary or XML) with $archiver, $version,
 * $objects and $top. Objects refer to each other by UID (an index into $objects); the
 * archived value is $top.root. Decoding follows the UIDs and unwraps Foundation's
 * wrappers, so a caller sees ordinary strings, numbers, arrays and dictionaries:
 *
 *   NS.string (NSString, NSMutableString)      -> PLIST_STRING
 *   NS.bytes  (NSData, NSMutableData)          -> PLIST_DATA
 *   NS.keys + NS.objects (NSDictionary, ...)   -> PLIST_DICT (keys must be strings;
 *                                                 integer keys become decimal text)
 *   NS.objects alone (NSArray, NSSet, ...)     -> PLIST_ARRAY
 *   NS.uuidbytes (NSUUID, 16 bytes)            -> PLIST_STRING, upper-case 8-4-4-4-12
 *   NS.time (NSDate)                           -> PLIST_DATE
 *   NS.intval / NS.dblval                      -> PLIST_UINT / PLIST_REAL
 *   NSNumber                                   -> stored inline already (integer, real,
 *                                                 boolean): copied as is
 *   "$null"                                    -> absent (left out of arrays and
 *                                                 dictionaries; NULL at the root)
 *   any other class                            -> PLIST_DICT of its members (UIDs
 *                                                 resolved) plus "$classname"
 *
 * Untrusted input: recursion depth, the number of output nodes (shared references are
 * copied, so a small archive could otherwise expand exponentially), the keys per
 * dictionary and the input size are bounded, and a UID that refers back to an object
 * being decoded is an error. The plist itself is parsed through mf_plist_parse_limited
 * (plist_util.h), the guard shared with the whole-file readers, with ZVALUE limits: a
 * binary plist is measured before libplist parses it (libplist 2.2 copies a shared
 * object once per reference and recurses per nesting level), and more than
 * MF_NSKEYED_MAX_PLIST_NODES objects or values after expansion, a reference cycle,
 * nesting deeper than MF_NSKEYED_MAX_DEPTH below the root (in binary or XML) or a
 * string with a NUL inside (libplist would cut it silently) is refused; an XML plist is
 * held to the same depth, value count and NUL rules. Nothing is guessed: input that is
 * not what it claims to be is an error with a message.
 */
#ifndef MF_NSKEYED_H
#define MF_NSKEYED_H

#include "error.h"

#include <plist/plist.h>
#include <stdbool.h>
#include <stddef.h>

/* The largest blob/archive the decoders accept. ZVALUEs are normally a few hundred
 * bytes. */
#define MF_NSKEYED_MAX_BYTES (1024u * 1024u)
/* Nesting depth of the decoded value (each UID hop and each container counts one). */
#define MF_NSKEYED_MAX_DEPTH 64
/* Nodes in the decoded tree (a real property value has a few dozen). */
#define MF_NSKEYED_MAX_NODES 20000u
/* Keys in one decoded dictionary (libplist 2.2 inserts in linear time, so a huge
 * dictionary would cost quadratic time; real ones have a few dozen keys). */
#define MF_NSKEYED_MAX_DICT_KEYS 4096u
/* Values a ZVALUE plist may hold: objects in a binary plist and values once libplist
 * has expanded its shared objects (it copies an object once per reference), or values
 * in an XML plist; passed to mf_plist_parse_limited. Real ZVALUEs have at most a few
 * hundred; at 200,000 a 400-byte fuzz input still cost seconds and 370 MB under ASan,
 * so the cap is kept well above real data but far below that (whole files get
 * MF_PLIST_MAX_VALUES). */
#define MF_NSKEYED_MAX_PLIST_NODES 20000u

/* What a ZVALUE blob turned out to be. */
typedef enum mf_nskeyed_kind {
    MF_NSKEYED_NONE = 0, /* nothing decoded (error) */
    MF_NSKEYED_ARCHIVE,  /* an NSKeyedArchiver archive (binary or XML plist) */
    MF_NSKEYED_PLIST,    /* a plain plist (binary or XML) that is not an archive */
    MF_NSKEYED_TEXT,     /* plain UTF-8 text */
} mf_nskeyed_kind;

/* A short name for a kind ("archive", "plist", "text", "none"); never NULL. */
const char *mf_nskeyed_kind_name(mf_nskeyed_kind k);

/* True when root has the shape of a keyed archive: a dictionary with a $top dictionary
 * and an $objects array (and, when present, a string $archiver). */
bool mf_nskeyed_is_archive(plist_t root);

/* Decode the parsed archive `archive` (not modified, still owned by the caller) into a
 * new plain tree in *out, which the caller frees with plist_free(). The root is
 * $top.root, or the only entry of $top when there is no "root" key.
 * Returns MF_OK with *out NULL when the archived value is nil ("$null").
 * Errors (err names the problem, *out stays NULL): MF_ERR_INVALID for a value that is
 * not an archive or a broken structure (UID out of range, UID cycle, bad $class,
 * non-string dictionary key, too deep, too many nodes); MF_ERR_NOMEM. */
mf_code mf_nskeyed_decode(plist_t *out, plist_t archive, mf_error *err);

/* Parse len bytes (a binary "bplist00" or an XML plist) and decode them as an archive.
 * Input larger than MF_NSKEYED_MAX_BYTES is MF_ERR_TOOBIG; bytes that are not a plist
 * are MF_ERR_PARSE; a plist that is not an archive is MF_ERR_INVALID. Otherwise as
 * mf_nskeyed_decode(). */
mf_code mf_nskeyed_decode_mem(plist_t *out, const void *data, size_t len, mf_error *err);

/* Decode a ZVALUE-style blob, which may be an NSKeyedArchiver archive, a plain plist
 * (binary, or XML starting with "<?xml", "<!DOCTYPE plist" or "<plist"), or plain
 * UTF-8 text (no NUL, no control characters other than tab, CR and LF; an empty blob
 * is the empty string). *out is the decoded value (caller frees with plist_free; NULL
 * for an archived nil) and *kind_out (may be NULL) says which of the three it was.
 * Anything else (invalid UTF-8, binary bytes, a plist header that does not parse, a
 * plist the shared guard refuses: too many values after expansion, a reference cycle,
 * too deep, a NUL inside a string) is MF_ERR_PARSE "undecodable ...": the decoder never
 * guesses. A plist that parses but is a broken archive is MF_ERR_INVALID. Too large: MF_ERR_TOOBIG.
 * This is the fuzzing entry point (tests/fuzz/fuzz_nskeyed.c). */
mf_code mf_nskeyed_decode_blob(plist_t *out, mf_nskeyed_kind *kind_out, const void *data,
                               size_t len, mf_error *err);

#endif
