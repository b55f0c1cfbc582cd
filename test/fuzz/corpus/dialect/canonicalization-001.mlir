// A widening that is undone returns the input.
// CHECK-LABEL: func.func @cast_widen_and_back
// CHECK-SAME: (%[[X:.+]]: tensor<?x8xbf16>)
func.func @cast_widen_and_back(%x: tensor<?x8xbf16>) -> tensor<?x8xbf16> {
  // CHECK-NOT: kiln.cast
  // CHECK: return %[[X]]
  %0 = kiln.cast %x : tensor<?x8xbf16> -> tensor<?x8xf32>
  %1 = kiln.cast %0 : tensor<?x8xf32> -> tensor<?x8xbf16>
  return %1 : tensor<?x8xbf16>
}
