/* version.h: the product version. */
#ifndef KDS_VERSION_H
#define KDS_VERSION_H

#include "kds_version.h" /* KDS_VERSION, KDS_VERSION_FULL: generated from CMakeLists.txt */

/* The version --version prints: "0.1.0 (git 05e570d)" in a checkout, else "0.1.0". */
const char *kds_version(void);

#endif
