func.func @concat_other_dim(%a: tensor<?x4x32xf32>, %b: tensor<?x5x32xf32>) {
  // expected-error @+1 {{input 1 [?, 5, 32] differs from input 0 [?, 4, 32] in dim 1 (only dim 2 may differ)}}
  %0 = kiln.concat %a, %b dim 2 : tensor<?x4x32xf32>, tensor<?x5x32xf32> -> tensor<?x4x64xf32>
  return
}
