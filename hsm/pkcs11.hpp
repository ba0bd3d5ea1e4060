// SPDX-License-Identifier: Apache-2.0
// The one place PKCS#11 types come from: p11-kit's pkcs11.h (v2.40 plus the 3.0 EdDSA names).
#pragma once

#include <p11-kit/pkcs11.h>
