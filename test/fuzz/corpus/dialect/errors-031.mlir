func.func @embedding_table(%t: tensor<4x8x2xf32>, %ids: tensor<?xi64>) {
  // expected-error @+1 {{'kiln.embedding' op table must be [vocab, hidden] (rank 2), got 'tensor<4x8x2xf32>'}}
  %0 = kiln.embedding %t[%ids] : tensor<4x8x2xf32>, tensor<?xi64> -> tensor<?x8xf32>
  return
}
