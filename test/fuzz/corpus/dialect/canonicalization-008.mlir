// CHECK-LABEL: func.func @reshape_round_trip
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x768xf32>)
func.func @reshape_round_trip(%x: tensor<?x?x768xf32>) -> tensor<?x?x768xf32> {
  // CHECK-NEXT: return %[[X]]
  %0 = kiln.reshape %x : tensor<?x?x768xf32> -> tensor<?x?x12x64xf32>
  %1 = kiln.reshape %0 : tensor<?x?x12x64xf32> -> tensor<?x?x768xf32>
  return %1 : tensor<?x?x768xf32>
}
