#include "mcompress/support/error.h"
// Header-only today; the translation unit keeps the module a real library target.
