func.func @prune_groups_do_not_divide(%x: tensor<2x66xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'kiln.param' op prune groups of 4 do not divide dim 1 of 'tensor<4x66xf32>'}}
  %w = kiln.param "w" prune <n = 2, m = 4, axis = 1> : tensor<4x66xf32>
  %y = kiln.linear %x, %w layout out_in : (tensor<2x66xf32>, tensor<4x66xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
