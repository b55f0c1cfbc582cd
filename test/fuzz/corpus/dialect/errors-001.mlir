func.func @param_dynamic() {
  // expected-error @+1 {{parameter 'w' must have a static shape, got 'tensor<?x4xf32>'}}
  %0 = kiln.param "w" : tensor<?x4xf32>
  return
}
