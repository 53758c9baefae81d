// Quantization math: implementation lands with the quantize issue (branch quant).
#include "mcompress/quant/quant.h"
