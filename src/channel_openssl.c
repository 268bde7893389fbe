/* attex: channel over OpenSSL (in progress) */
#include <attex/error.h>
typedef int attex_placeholder_channel_openssl;
