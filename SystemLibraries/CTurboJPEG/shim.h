// Thin shim over libjpeg-turbo's TurboJPEG API (2.x functions, also present in 3.x).
#ifndef TESSERA_CTURBOJPEG_SHIM_H
#define TESSERA_CTURBOJPEG_SHIM_H
#include <turbojpeg.h>
#endif
