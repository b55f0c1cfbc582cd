// RUN: kiln-opt %s --kiln-pipeline=pp=2 | FileCheck %s
// The result verifies and round-trips.
// RUN: kiln-opt %s --kiln-pipeline=pp=2 | kiln-opt --verify-each | FileCheck %s

// Two layers of equal weight bytes (the embeddings counted with the first,
// the head with the last): one layer a stage.
// CHECK: module attributes {kiln.pipeline_parallel = 2 : i64, kiln.pipeline_stages = ["model.layers.0", "model.layers.1"]}

// The embedding lookup reads arguments and weights only: it stays free
// (the step list runs it where it is read). Layer 0's output crosses to
// stage 1 once, for both of layer 1's reads; the head runs on the stage of
// its operand, and its output is the last stage's already.
// CHECK-LABEL: func.func @forward
// CHECK: %[[E:.+]] = kiln.embedding
// CHECK: %[[H0:.+]] = kiln.linear %[[E]], %{{.+}} residual %[[E]]
// CHECK-NEXT: %[[R:.+]] = kiln.send_recv %[[H0]] from 0 to 1 : tensor<?x?x8xf32>
// CHECK: %[[H1:.+]] = kiln.linear %[[R]], %{{.+}} residual %[[R]]
// CHECK-NOT: send_recv
// CHECK: %[[L:.+]] = kiln.linear %[[H1]]
// CHECK: return %[[L]]
func.func @forward(%ids: tensor<?x?xi64>) -> tensor<?x?x10xf32> {
  %t = kiln.param "model.embed_tokens.weight" : tensor<10x8xf32> loc("model.embed_tokens")
  %e = kiln.embedding %t[%ids] : tensor<10x8xf32>, tensor<?x?xi64> -> tensor<?x?x8xf32> loc("model.embed_tokens")
  %w0 = kiln.param "model.layers.0.mlp.weight" : tensor<8x8xf32> loc("model.layers.0.mlp")
  %h0 = kiln.linear %e, %w0 residual %e layout out_in : (tensor<?x?x8xf32>, tensor<8x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32> loc("model.layers.0.mlp")
  %w1 = kiln.param "model.layers.1.mlp.weight" : tensor<8x8xf32> loc("model.layers.1.mlp")
  %h1 = kiln.linear %h0, %w1 residual %h0 layout out_in : (tensor<?x?x8xf32>, tensor<8x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32> loc("model.layers.1.mlp")
  %wh = kiln.param "lm_head.weight" : tensor<10x8xf32> loc("lm_head")
  %l = kiln.linear %h1, %wh layout out_in : (tensor<?x?x8xf32>, tensor<10x8xf32>) -> tensor<?x?x10xf32> loc("lm_head")
  return %l : tensor<?x?x10xf32>
}

// An output computed on stage 0 goes to the last stage; a value of
// arguments alone (the cast mask) is not passed but free, even where a
// stage-1 op reads it.
// CHECK-LABEL: func.func @early_output
// CHECK: %[[M:.+]] = kiln.cast %arg1
// CHECK: %[[H0:.+]] = kiln.linear %arg0
// CHECK-NEXT: %[[R:.+]] = kiln.send_recv %[[H0]] from 0 to 1
// CHECK: %[[H1:.+]] = kiln.linear %[[R]]
// CHECK-NEXT: %[[X:.+]] = kiln.mul %[[H1]], %[[M]]
// CHECK: return %[[R]], %[[X]]
func.func @early_output(%x: tensor<?x?x8xf32>, %mask: tensor<?x?x1xi64>) -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
  %m = kiln.cast %mask : tensor<?x?x1xi64> -> tensor<?x?x1xf32> loc("model")
  %w0 = kiln.param "model.layers.0.mlp.weight" : tensor<8x8xf32> loc("model.layers.0.mlp")
  %h0 = kiln.linear %x, %w0 layout out_in : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32> loc("model.layers.0.mlp")
  %w1 = kiln.param "model.layers.1.mlp.weight" : tensor<8x8xf32> loc("model.layers.1.mlp")
  %h1 = kiln.linear %h0, %w1 layout out_in : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32> loc("model.layers.1.mlp")
  %y = kiln.mul %h1, %m : tensor<?x?x8xf32>, tensor<?x?x1xf32> -> tensor<?x?x8xf32> loc("model.layers.1.mlp")
  return %h0, %y : tensor<?x?x8xf32>, tensor<?x?x8xf32>
}
