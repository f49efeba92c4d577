/* version.c: the product version string. */
#include "version.h"

const char *kds_version(void) {
  return KDS_VERSION_FULL;
}
