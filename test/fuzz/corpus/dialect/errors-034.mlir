func.func @reshape_dynamic_split(%x: tensor<?x768xf32>) {
  // expected-error @+1 {{cannot reshape [?, 768] to [?, ?, 768]: with dynamic dims a reshape must merge adjacent dims, or split a dim into parts of which at most one is dynamic}}
  %0 = kiln.reshape %x : tensor<?x768xf32> -> tensor<?x?x768xf32>
  return
}
