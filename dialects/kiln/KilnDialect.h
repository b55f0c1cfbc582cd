//===- KilnDialect.h - the kiln dialect, its enums and attributes ---------===//
//
// Public header of the kiln dialect: include this (or KilnOps.h for the ops)
// to use the dialect from C++.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECTS_KILN_KILNDIALECT_H
#define KILN_DIALECTS_KILN_KILNDIALECT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"

#include "dialects/kiln/KilnDialect.h.inc"
#include "dialects/kiln/KilnEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/kiln/KilnAttrs.h.inc"

#endif // KILN_DIALECTS_KILN_KILNDIALECT_H
