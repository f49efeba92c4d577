/* version.h: the product version. */
#ifndef KDS_VERSION_H
#define KDS_VERSION_H

#define KDS_VERSION "0.1.0"

const char *kds_version(void);

#endif
