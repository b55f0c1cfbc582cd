// RUN: kiln-opt %s | FileCheck %s
// Round trip through the custom form and through the generic form.
// RUN: kiln-opt %s | kiln-opt | FileCheck %s
// RUN: kiln-opt %s --mlir-print-op-generic | kiln-opt | FileCheck %s

// CHECK-LABEL: func.func @param
func.func @param() -> tensor<768x2304xf32> {
  // CHECK: kiln.param "h.0.attn.c_attn.weight" : tensor<768x2304xf32>
  %w = kiln.param "h.0.attn.c_attn.weight" : tensor<768x2304xf32>
  return %w : tensor<768x2304xf32>
}

// CHECK-LABEL: func.func @constant
func.func @constant() -> (tensor<f32>, tensor<2x2xi64>) {
  // CHECK: kiln.constant dense<1.250000e-01> : tensor<f32>
  %c = kiln.constant dense<0.125> : tensor<f32>
  // CHECK: kiln.constant dense<{{\[\[}}1, 2], [3, 4]]> : tensor<2x2xi64>
  %d = kiln.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xi64>
  return %c, %d : tensor<f32>, tensor<2x2xi64>
}

// CHECK-LABEL: func.func @iota
// CHECK-SAME: (%[[IDS:.+]]: tensor<?x?xi64>)
func.func @iota(%ids: tensor<?x?xi64>) -> tensor<?xi64> {
  // CHECK: kiln.iota %[[IDS]] dim 1 : tensor<?x?xi64> -> tensor<?xi64>
  %p = kiln.iota %ids dim 1 : tensor<?x?xi64> -> tensor<?xi64>
  return %p : tensor<?xi64>
}

// CHECK-LABEL: func.func @binary
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x?x768xf32>, %[[B:[^:]+]]: tensor<768xf32>
func.func @binary(%x: tensor<?x?x768xf32>, %b: tensor<768xf32>,
                  %i: tensor<?xi64>) -> tensor<?x?x768xf32> {
  // CHECK: %[[ADD:.+]] = kiln.add %[[X]], %[[B]] : tensor<?x?x768xf32>, tensor<768xf32> -> tensor<?x?x768xf32>
  %0 = kiln.add %x, %b : tensor<?x?x768xf32>, tensor<768xf32> -> tensor<?x?x768xf32>
  // CHECK: %[[SUB:.+]] = kiln.sub %[[ADD]], %[[X]] : tensor<?x?x768xf32>
  %1 = kiln.sub %0, %x : tensor<?x?x768xf32>
  // CHECK: %[[MUL:.+]] = kiln.mul %[[SUB]], %[[X]] : tensor<?x?x768xf32>
  %2 = kiln.mul %1, %x : tensor<?x?x768xf32>
  // CHECK: %[[DIV:.+]] = kiln.div %[[MUL]], %[[B]] : tensor<?x?x768xf32>, tensor<768xf32> -> tensor<?x?x768xf32>
  %3 = kiln.div %2, %b : tensor<?x?x768xf32>, tensor<768xf32> -> tensor<?x?x768xf32>
  // CHECK: %[[MAX:.+]] = kiln.max %[[DIV]], %[[X]] : tensor<?x?x768xf32>
  %4 = kiln.max %3, %x : tensor<?x?x768xf32>
  // CHECK: %[[MIN:.+]] = kiln.min %[[MAX]], %[[X]] : tensor<?x?x768xf32>
  %5 = kiln.min %4, %x : tensor<?x?x768xf32>
  // CHECK: kiln.add %{{.+}}, %{{.+}} : tensor<?xi64>
  %6 = kiln.add %i, %i : tensor<?xi64>
  return %5 : tensor<?x?x768xf32>
}

// CHECK-LABEL: func.func @compare_select
// CHECK-SAME: (%[[A:[^:]+]]: tensor<?x?xi64>, %[[C:[^:]+]]: tensor<i64>)
func.func @compare_select(%a: tensor<?x?xi64>, %c: tensor<i64>) -> tensor<?x?xi64> {
  // CHECK: %[[LT:.+]] = kiln.compare lt %[[A]], %[[C]] : tensor<?x?xi64>, tensor<i64> -> tensor<?x?xi1>
  %lt = kiln.compare lt %a, %c : tensor<?x?xi64>, tensor<i64> -> tensor<?x?xi1>
  // CHECK: kiln.compare ge %[[A]], %[[A]] : tensor<?x?xi64>, tensor<?x?xi64> -> tensor<?x?xi1>
  %ge = kiln.compare ge %a, %a : tensor<?x?xi64>, tensor<?x?xi64> -> tensor<?x?xi1>
  // CHECK: kiln.select %[[LT]], %[[A]], %[[C]] : tensor<?x?xi1>, tensor<?x?xi64>, tensor<i64> -> tensor<?x?xi64>
  %s = kiln.select %lt, %a, %c : tensor<?x?xi1>, tensor<?x?xi64>, tensor<i64> -> tensor<?x?xi64>
  return %s : tensor<?x?xi64>
}

// CHECK-LABEL: func.func @unary
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x64xf32>)
func.func @unary(%x: tensor<?x?x64xf32>) -> tensor<?x?x64xf32> {
  // CHECK: %[[NEG:.+]] = kiln.neg %[[X]] : tensor<?x?x64xf32>
  %0 = kiln.neg %x : tensor<?x?x64xf32>
  // CHECK: %[[ABS:.+]] = kiln.abs %[[NEG]] : tensor<?x?x64xf32>
  %1 = kiln.abs %0 : tensor<?x?x64xf32>
  // CHECK: %[[EXP:.+]] = kiln.exp %[[ABS]] : tensor<?x?x64xf32>
  %2 = kiln.exp %1 : tensor<?x?x64xf32>
  // CHECK: %[[LOG:.+]] = kiln.log %[[EXP]] : tensor<?x?x64xf32>
  %3 = kiln.log %2 : tensor<?x?x64xf32>
  // CHECK: %[[SQRT:.+]] = kiln.sqrt %[[LOG]] : tensor<?x?x64xf32>
  %4 = kiln.sqrt %3 : tensor<?x?x64xf32>
  // CHECK: %[[RSQRT:.+]] = kiln.rsqrt %[[SQRT]] : tensor<?x?x64xf32>
  %5 = kiln.rsqrt %4 : tensor<?x?x64xf32>
  // CHECK: %[[TANH:.+]] = kiln.tanh %[[RSQRT]] : tensor<?x?x64xf32>
  %6 = kiln.tanh %5 : tensor<?x?x64xf32>
  // CHECK: %[[SIN:.+]] = kiln.sin %[[TANH]] : tensor<?x?x64xf32>
  %7 = kiln.sin %6 : tensor<?x?x64xf32>
  // CHECK: %[[COS:.+]] = kiln.cos %[[SIN]] : tensor<?x?x64xf32>
  %8 = kiln.cos %7 : tensor<?x?x64xf32>
  // CHECK: %[[RELU:.+]] = kiln.relu %[[COS]] : tensor<?x?x64xf32>
  %9 = kiln.relu %8 : tensor<?x?x64xf32>
  // CHECK: %[[SILU:.+]] = kiln.silu %[[RELU]] : tensor<?x?x64xf32>
  %10 = kiln.silu %9 : tensor<?x?x64xf32>
  // CHECK: %[[ERF:.+]] = kiln.gelu erf %[[SILU]] : tensor<?x?x64xf32>
  %11 = kiln.gelu erf %10 : tensor<?x?x64xf32>
  // CHECK: kiln.gelu tanh %[[ERF]] : tensor<?x?x64xf32>
  %12 = kiln.gelu tanh %11 : tensor<?x?x64xf32>
  return %12 : tensor<?x?x64xf32>
}

// CHECK-LABEL: func.func @cast
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x?x768xf32>, %[[M:[^:]+]]: tensor<?x?xi1>)
func.func @cast(%x: tensor<?x?x768xf32>, %m: tensor<?x?xi1>) -> (tensor<?x?x768xbf16>, tensor<?x?xf32>) {
  // CHECK: kiln.cast %[[X]] : tensor<?x?x768xf32> -> tensor<?x?x768xbf16>
  %0 = kiln.cast %x : tensor<?x?x768xf32> -> tensor<?x?x768xbf16>
  // CHECK: kiln.cast %[[M]] : tensor<?x?xi1> -> tensor<?x?xf32>
  %1 = kiln.cast %m : tensor<?x?xi1> -> tensor<?x?xf32>
  return %0, %1 : tensor<?x?x768xbf16>, tensor<?x?xf32>
}

// CHECK-LABEL: func.func @matmul
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<?x12x?x64xf32>, %[[K:[^:]+]]: tensor<?x12x?x64xf32>, %[[W:[^:]+]]: tensor<64x32xf32>)
func.func @matmul(%q: tensor<?x12x?x64xf32>, %k: tensor<?x12x?x64xf32>, %w: tensor<64x32xf32>)
    -> (tensor<?x12x?x?xf32>, tensor<?x12x?x32xf32>, tensor<?x12x64x64xf32>) {
  // CHECK: kiln.matmul %[[Q]], %[[K]] transpose_rhs : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32> -> tensor<?x12x?x?xf32>
  %s = kiln.matmul %q, %k transpose_rhs : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32> -> tensor<?x12x?x?xf32>
  // CHECK: kiln.matmul %[[Q]], %[[W]] : tensor<?x12x?x64xf32>, tensor<64x32xf32> -> tensor<?x12x?x32xf32>
  %p = kiln.matmul %q, %w : tensor<?x12x?x64xf32>, tensor<64x32xf32> -> tensor<?x12x?x32xf32>
  // CHECK: kiln.matmul %[[Q]], %[[K]] transpose_lhs : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32> -> tensor<?x12x64x64xf32>
  %g = kiln.matmul %q, %k transpose_lhs : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32> -> tensor<?x12x64x64xf32>
  return %s, %p, %g : tensor<?x12x?x?xf32>, tensor<?x12x?x32xf32>, tensor<?x12x64x64xf32>
}

// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x?x768xf32>, %[[R:[^:]+]]: tensor<?x?x768xf32>)
func.func @linear(%x: tensor<?x?x768xf32>, %r: tensor<?x?x768xf32>) -> (tensor<?x?x3072xf32>, tensor<?x?x768xf32>) {
  // CHECK-DAG: %[[W1:.+]] = kiln.param "mlp.c_fc.weight"
  // CHECK-DAG: %[[B1:.+]] = kiln.param "mlp.c_fc.bias"
  // CHECK-DAG: %[[W2:.+]] = kiln.param "mlp.down_proj.weight"
  %w1 = kiln.param "mlp.c_fc.weight" : tensor<768x3072xf32>
  %b1 = kiln.param "mlp.c_fc.bias" : tensor<3072xf32>
  %w2 = kiln.param "mlp.down_proj.weight" : tensor<768x3072xf32>
  // CHECK: %[[H:.+]] = kiln.linear %[[X]], %[[W1]] bias %[[B1]] layout in_out activation gelu_tanh : (tensor<?x?x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>) -> tensor<?x?x3072xf32>
  %h = kiln.linear %x, %w1 bias %b1 layout in_out activation gelu_tanh
      : (tensor<?x?x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>) -> tensor<?x?x3072xf32>
  // CHECK: kiln.linear %[[H]], %[[W2]] residual %[[R]] layout out_in : (tensor<?x?x3072xf32>, tensor<768x3072xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  %o = kiln.linear %h, %w2 residual %r layout out_in activation none
      : (tensor<?x?x3072xf32>, tensor<768x3072xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return %h, %o : tensor<?x?x3072xf32>, tensor<?x?x768xf32>
}

// CHECK-LABEL: func.func @norms
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x?x512xf32>, %[[G:[^:]+]]: tensor<512xf32>, %[[B:[^:]+]]: tensor<512xf32>)
func.func @norms(%x: tensor<?x?x512xf32>, %g: tensor<512xf32>, %b: tensor<512xf32>)
    -> (tensor<?x?x512xf32>, tensor<?x?x512xf32>, tensor<?x?x512xf32>) {
  // CHECK: kiln.layer_norm %[[X]] scale %[[G]] bias %[[B]] epsilon 1.000000e-05 : tensor<?x?x512xf32>, tensor<512xf32>, tensor<512xf32>
  %0 = kiln.layer_norm %x scale %g bias %b epsilon 1.0e-05 : tensor<?x?x512xf32>, tensor<512xf32>, tensor<512xf32>
  // CHECK: kiln.layer_norm %[[X]] scale %[[G]] epsilon 9.9999999999999998E-13 : tensor<?x?x512xf32>, tensor<512xf32>
  %1 = kiln.layer_norm %x scale %g epsilon 1.0e-12 : tensor<?x?x512xf32>, tensor<512xf32>
  // CHECK: kiln.rms_norm %[[X]] scale %[[G]] epsilon 9.9999999999999995E-7 : tensor<?x?x512xf32>, tensor<512xf32>
  %2 = kiln.rms_norm %x scale %g epsilon 1.0e-06 : tensor<?x?x512xf32>, tensor<512xf32>
  return %0, %1, %2 : tensor<?x?x512xf32>, tensor<?x?x512xf32>, tensor<?x?x512xf32>
}

// CHECK-LABEL: func.func @softmax_reduce
// CHECK-SAME: (%[[S:.+]]: tensor<?x12x?x?xf32>)
func.func @softmax_reduce(%s: tensor<?x12x?x?xf32>) -> (tensor<?x12x?x?xf32>, tensor<?x12x?x1xf32>, tensor<?x?xf32>) {
  // CHECK: kiln.softmax %[[S]] dim 3 : tensor<?x12x?x?xf32>
  %p = kiln.softmax %s dim 3 : tensor<?x12x?x?xf32>
  // CHECK: kiln.reduce max %[[S]] dims [3] keep_dims : tensor<?x12x?x?xf32> -> tensor<?x12x?x1xf32>
  %m = kiln.reduce max %s dims [3] keep_dims : tensor<?x12x?x?xf32> -> tensor<?x12x?x1xf32>
  // CHECK: kiln.reduce mean %[[S]] dims [1, 3] : tensor<?x12x?x?xf32> -> tensor<?x?xf32>
  %a = kiln.reduce mean %s dims [1, 3] : tensor<?x12x?x?xf32> -> tensor<?x?xf32>
  // CHECK: kiln.reduce sum
  %b = kiln.reduce sum %s dims [0] : tensor<?x12x?x?xf32> -> tensor<12x?x?xf32>
  // CHECK: kiln.reduce min
  %c = kiln.reduce min %s dims [2] : tensor<?x12x?x?xf32> -> tensor<?x12x?xf32>
  return %p, %m, %a : tensor<?x12x?x?xf32>, tensor<?x12x?x1xf32>, tensor<?x?xf32>
}

// CHECK-LABEL: func.func @embedding
// CHECK-SAME: (%[[IDS:.+]]: tensor<?x?xi64>)
func.func @embedding(%ids: tensor<?x?xi64>) -> tensor<?x?x768xf32> {
  // CHECK: %[[T:.+]] = kiln.param "wte.weight"
  %t = kiln.param "wte.weight" : tensor<50257x768xf32>
  // CHECK: kiln.embedding %[[T]][%[[IDS]]] : tensor<50257x768xf32>, tensor<?x?xi64> -> tensor<?x?x768xf32>
  %e = kiln.embedding %t[%ids] : tensor<50257x768xf32>, tensor<?x?xi64> -> tensor<?x?x768xf32>
  return %e : tensor<?x?x768xf32>
}

// CHECK-LABEL: func.func @shapes
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x768xf32>)
func.func @shapes(%x: tensor<?x?x768xf32>) -> tensor<?x?x12x64xf32> {
  // CHECK: %[[R:.+]] = kiln.reshape %[[X]] : tensor<?x?x768xf32> -> tensor<?x?x12x64xf32>
  %r = kiln.reshape %x : tensor<?x?x768xf32> -> tensor<?x?x12x64xf32>
  // CHECK: %[[T:.+]] = kiln.transpose %[[R]] [0, 2, 1, 3] : tensor<?x?x12x64xf32> -> tensor<?x12x?x64xf32>
  %t = kiln.transpose %r [0, 2, 1, 3] : tensor<?x?x12x64xf32> -> tensor<?x12x?x64xf32>
  // CHECK: %[[LO:.+]] = kiln.slice %[[R]] dim 3 [0 : 32] : tensor<?x?x12x64xf32> -> tensor<?x?x12x32xf32>
  %lo = kiln.slice %r dim 3 [0 : 32] : tensor<?x?x12x64xf32> -> tensor<?x?x12x32xf32>
  // CHECK: %[[EV:.+]] = kiln.slice %[[R]] dim 3 [1 : 64 : 2] : tensor<?x?x12x64xf32> -> tensor<?x?x12x32xf32>
  %ev = kiln.slice %r dim 3 [1 : 64 : 2] : tensor<?x?x12x64xf32> -> tensor<?x?x12x32xf32>
  // CHECK: kiln.concat %[[LO]], %[[EV]] dim 3 : tensor<?x?x12x32xf32>, tensor<?x?x12x32xf32> -> tensor<?x?x12x64xf32>
  %c = kiln.concat %lo, %ev dim 3 : tensor<?x?x12x32xf32>, tensor<?x?x12x32xf32> -> tensor<?x?x12x64xf32>
  return %c : tensor<?x?x12x64xf32>
}

// CHECK-LABEL: func.func @masks_and_caches
// CHECK-SAME: (%[[S:[^:]+]]: tensor<?x12x1x?x?xf32>, %[[POS:[^:]+]]: tensor<?xi64>, %[[C:[^:]+]]: tensor<?x1024x768xf32>, %[[K:[^:]+]]: tensor<?x?x768xf32>)
func.func @masks_and_caches(%s: tensor<?x12x1x?x?xf32>, %pos: tensor<?xi64>,
                            %c: tensor<?x1024x768xf32>, %k: tensor<?x?x768xf32>)
    -> (tensor<?x12x1x?x?xf32>, tensor<?x12x1x?x?xf32>, tensor<?x1024x768xf32>) {
  // CHECK: kiln.causal_mask %[[S]] : tensor<?x12x1x?x?xf32>
  %0 = kiln.causal_mask %s : tensor<?x12x1x?x?xf32>
  // CHECK: kiln.causal_mask %[[S]] offsets %[[POS]] : tensor<?x12x1x?x?xf32>, tensor<?xi64>
  %1 = kiln.causal_mask %s offsets %pos : tensor<?x12x1x?x?xf32>, tensor<?xi64>
  // CHECK: kiln.cache_write %[[C]][%[[POS]]] = %[[K]] : tensor<?x1024x768xf32>, tensor<?x?x768xf32>, tensor<?xi64>
  %2 = kiln.cache_write %c[%pos] = %k : tensor<?x1024x768xf32>, tensor<?x?x768xf32>, tensor<?xi64>
  return %0, %1, %2 : tensor<?x12x1x?x?xf32>, tensor<?x12x1x?x?xf32>, tensor<?x1024x768xf32>
}

// CHECK-LABEL: func.func @attention
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<?x?x768xf32>, %[[KV:[^:]+]]: tensor<?x?x768xf32>, %[[M:[^:]+]]: tensor<?x?xi64>, %[[B:[^:]+]]: tensor<1x12x?x?xf32>)
func.func @attention(%q: tensor<?x?x768xf32>, %kv: tensor<?x?x768xf32>,
                     %m: tensor<?x?xi64>, %b: tensor<1x12x?x?xf32>)
    -> (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) {
  // CHECK: kiln.attention %[[Q]], %[[KV]], %[[KV]] heads 12 kv_heads 12 mask causal : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  %0 = kiln.attention %q, %kv, %kv heads 12 kv_heads 12 mask causal
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  // CHECK: kiln.attention %[[Q]], %[[KV]], %[[KV]] heads 12 kv_heads 12 mask padding key_mask %[[M]] :
  %1 = kiln.attention %q, %kv, %kv heads 12 kv_heads 12 mask padding key_mask %m
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?xi64>) -> tensor<?x?x768xf32>
  // CHECK: kiln.attention %[[Q]], %[[KV]], %[[KV]] heads 12 kv_heads 12 mask none bias %[[B]] scale 1.000000e+00 :
  %2 = kiln.attention %q, %kv, %kv heads 12 kv_heads 12 mask none bias %b scale 1.0
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<1x12x?x?xf32>) -> tensor<?x?x768xf32>
  return %0, %1, %2 : tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>
}

// CHECK-LABEL: func.func @cached_gqa_attention
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<?x1x4096xf32>, %[[K:[^:]+]]: tensor<?x1x1024xf32>, %[[V:[^:]+]]: tensor<?x1x1024xf32>, %[[KC:[^:]+]]: tensor<?x2048x1024xf32>, %[[VC:[^:]+]]: tensor<?x2048x1024xf32>, %[[POS:[^:]+]]: tensor<?xi64>, %[[M:[^:]+]]: tensor<?x2048xi1>)
func.func @cached_gqa_attention(%q: tensor<?x1x4096xf32>, %k: tensor<?x1x1024xf32>,
    %v: tensor<?x1x1024xf32>, %kc: tensor<?x2048x1024xf32>,
    %vc: tensor<?x2048x1024xf32>, %pos: tensor<?xi64>, %m: tensor<?x2048xi1>)
    -> (tensor<?x1x4096xf32>, tensor<?x2048x1024xf32>, tensor<?x2048x1024xf32>) {
  // CHECK: %[[O:.+]], %[[CACHES:.+]]:2 = kiln.attention %[[Q]], %[[K]], %[[V]] heads 32 kv_heads 8 mask causal_padding key_mask %[[M]] cache(%[[KC]], %[[VC]], %[[POS]]) :
  // CHECK-SAME: -> (tensor<?x1x4096xf32>, tensor<?x2048x1024xf32>, tensor<?x2048x1024xf32>)
  %o, %k2, %v2 = kiln.attention %q, %k, %v heads 32 kv_heads 8 mask causal_padding key_mask %m cache(%kc, %vc, %pos)
      : (tensor<?x1x4096xf32>, tensor<?x1x1024xf32>, tensor<?x1x1024xf32>, tensor<?x2048xi1>,
         tensor<?x2048x1024xf32>, tensor<?x2048x1024xf32>, tensor<?xi64>)
      -> (tensor<?x1x4096xf32>, tensor<?x2048x1024xf32>, tensor<?x2048x1024xf32>)
  // CHECK: return %[[O]], %[[CACHES]]#0, %[[CACHES]]#1
  return %o, %k2, %v2 : tensor<?x1x4096xf32>, tensor<?x2048x1024xf32>, tensor<?x2048x1024xf32>
}

// CHECK-LABEL: func.func @rotary
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x?x4096xf32>, %[[P:[^:]+]]: tensor<?x?xi64>, %[[P1:[^:]+]]: tensor<?xi32>)
func.func @rotary(%x: tensor<?x?x4096xf32>, %p: tensor<?x?xi64>, %p1: tensor<?xi32>) -> (tensor<?x?x4096xf32>, tensor<?x?x4096xf32>) {
  // CHECK: kiln.rotary %[[X]], %[[P]] heads 32 theta 5.000000e+05 llama3_scaling <factor = 8.000000e+00, low_freq_factor = 1.000000e+00, high_freq_factor = 4.000000e+00, original_max_position_embeddings = 8192> : tensor<?x?x4096xf32>, tensor<?x?xi64>
  %0 = kiln.rotary %x, %p heads 32 theta 5.0e+05
      llama3_scaling <factor = 8.0, low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position_embeddings = 8192>
      : tensor<?x?x4096xf32>, tensor<?x?xi64>
  // CHECK: kiln.rotary %[[X]], %[[P1]] heads 32 theta 1.000000e+04 : tensor<?x?x4096xf32>, tensor<?xi32>
  %1 = kiln.rotary %x, %p1 heads 32 theta 1.0e+04 : tensor<?x?x4096xf32>, tensor<?xi32>
  return %0, %1 : tensor<?x?x4096xf32>, tensor<?x?x4096xf32>
}

// CHECK-LABEL: func.func @relative_position_bias
// CHECK-SAME: (%[[QP:[^:]+]]: tensor<?xi64>, %[[KP:[^:]+]]: tensor<?xi64>)
func.func @relative_position_bias(%qp: tensor<?xi64>, %kp: tensor<?xi64>) -> (tensor<1x8x?x?xf32>, tensor<1x8x?x?xf32>) {
  // CHECK: %[[T:.+]] = kiln.param
  %t = kiln.param "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight" : tensor<32x8xf32>
  // CHECK: kiln.relative_position_bias %[[T]], %[[QP]], %[[KP]] bidirectional buckets 32 max_distance 128 : tensor<32x8xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x8x?x?xf32>
  %0 = kiln.relative_position_bias %t, %qp, %kp bidirectional buckets 32 max_distance 128
      : tensor<32x8xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x8x?x?xf32>
  // CHECK: kiln.relative_position_bias %[[T]], %[[QP]], %[[KP]] buckets 32 max_distance 128 :
  %1 = kiln.relative_position_bias %t, %qp, %kp buckets 32 max_distance 128
      : tensor<32x8xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x8x?x?xf32>
  return %0, %1 : tensor<1x8x?x?xf32>, tensor<1x8x?x?xf32>
}

// CHECK-LABEL: func.func @send_recv
func.func @send_recv(%x: tensor<?x?x8xf32>, %m: tensor<?x?xi64>) -> (tensor<?x?x8xf32>, tensor<?x?xi64>) {
  // CHECK: kiln.send_recv %{{.+}} from 0 to 1 : tensor<?x?x8xf32>
  %0 = kiln.send_recv %x from 0 to 1 : tensor<?x?x8xf32>
  // CHECK: kiln.send_recv %{{.+}} from 1 to 3 : tensor<?x?xi64>
  %1 = kiln.send_recv %m from 1 to 3 : tensor<?x?xi64>
  return %0, %1 : tensor<?x?x8xf32>, tensor<?x?xi64>
}

// Kept slices, then one rank's part of them (--prune heads with --tp).
// CHECK-LABEL: func.func @keep_then_shard
// CHECK: kiln.param "w" keep <axis = 0, indices = [0, 2, 4, 6]> shard <axis = 0, sections = 1, parts = 2, replicas = 1> : tensor<2x8xf32>
func.func @keep_then_shard() -> tensor<2x8xf32> {
  %w = kiln.param "w" keep <axis = 0, indices = [0, 2, 4, 6]> shard <axis = 0, sections = 1, parts = 2, replicas = 1> : tensor<2x8xf32>
  return %w : tensor<2x8xf32>
}

// Activation-aware pruning: a factor per input feature; a weight sharded
// along its input features has factors for all of them.
// CHECK-LABEL: func.func @prune_scale
// CHECK: kiln.param "w" prune <n = 2, m = 4, axis = 1, scale = array<f32: 1.000000e+00, 2.000000e+00, 0.000000e+00, 5.000000e-01>> : tensor<2x4xf32>
// CHECK: kiln.param "v" prune <fraction = 2.500000e-01, axis = 1, scale = array<f32: 1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00>> shard <axis = 1, sections = 1, parts = 2, replicas = 1> : tensor<2x2xf32>
func.func @prune_scale(%x: tensor<?x4xf32>, %y: tensor<?x2xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>) {
  %w = kiln.param "w" prune <n = 2, m = 4, axis = 1, scale = array<f32: 1., 2., 0., 0.5>> : tensor<2x4xf32>
  %a = kiln.linear %x, %w layout out_in : (tensor<?x4xf32>, tensor<2x4xf32>) -> tensor<?x2xf32>
  %v = kiln.param "v" prune <fraction = 0.25, axis = 1, scale = array<f32: 1., 2., 3., 4.>> shard <axis = 1, sections = 1, parts = 2, replicas = 1> : tensor<2x2xf32>
  %b = kiln.linear %y, %v layout out_in : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  return %a, %b : tensor<?x2xf32>, tensor<?x2xf32>
}
