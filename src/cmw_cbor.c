/* attex: cmw_cbor (in progress) */
#include <attex/error.h>
typedef int attex_placeholder_cmw_cbor;
