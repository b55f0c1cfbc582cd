// RUN: kiln-opt %s --split-input-file --verify-diagnostics
// One case per verifier message of the kiln dialect.

func.func @param_empty_name() {
  // expected-error @+1 {{'kiln.param' op needs a non-empty parameter name}}
  %0 = kiln.param "" : tensor<4xf32>
  return
}

// -----

func.func @param_dynamic() {
  // expected-error @+1 {{parameter 'w' must have a static shape, got 'tensor<?x4xf32>'}}
  %0 = kiln.param "w" : tensor<?x4xf32>
  return
}

// -----

func.func @iota_dim(%x: tensor<?x?xi64>) {
  // expected-error @+1 {{'kiln.iota' op dim 2 is out of range for rank 2}}
  %0 = kiln.iota %x dim 2 : tensor<?x?xi64> -> tensor<?xi64>
  return
}

// -----

func.func @iota_rank(%x: tensor<?x?xi64>) {
  // expected-error @+1 {{result must be 1-D, got 'tensor<?x1xi64>'}}
  %0 = kiln.iota %x dim 1 : tensor<?x?xi64> -> tensor<?x1xi64>
  return
}

// -----

func.func @iota_size(%x: tensor<?x8xi64>) {
  // expected-error @+1 {{result size 4 differs from size 8 of source dim 1}}
  %0 = kiln.iota %x dim 1 : tensor<?x8xi64> -> tensor<4xi64>
  return
}

// -----

func.func @add_element_types(%a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+1 {{'kiln.add' op lhs element type 'f32' differs from rhs element type 'f16'}}
  %0 = kiln.add %a, %b : tensor<4xf32>, tensor<4xf16> -> tensor<4xf32>
  return
}

// -----

func.func @mul_broadcast(%a: tensor<?x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.mul' op shapes [?, 3] and [4] are not broadcastable}}
  %0 = kiln.mul %a, %b : tensor<?x3xf32>, tensor<4xf32> -> tensor<?x3xf32>
  return
}

// -----

func.func @sub_result_type(%a: tensor<?x3xf32>, %b: tensor<3xf32>) {
  // expected-error @+2 {{'kiln.sub' op inferred type(s) 'tensor<?x3xf32>' are incompatible with return type(s) of operation 'tensor<2x3xf32>'}}
  // expected-error @+1 {{'kiln.sub' op failed to infer returned types}}
  %0 = kiln.sub %a, %b : tensor<?x3xf32>, tensor<3xf32> -> tensor<2x3xf32>
  return
}

// -----

func.func @compare_broadcast(%a: tensor<2x3xi64>, %b: tensor<2xi64>) {
  // expected-error @+1 {{'kiln.compare' op shapes [2, 3] and [2] are not broadcastable}}
  %0 = kiln.compare eq %a, %b : tensor<2x3xi64>, tensor<2xi64> -> tensor<2x3xi1>
  return
}

// -----

func.func @select_condition(%c: tensor<5xi1>, %a: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.select' op shapes [5] and [4] are not broadcastable}}
  %0 = kiln.select %c, %a, %a : tensor<5xi1>, tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @matmul_rank(%a: tensor<4xf32>, %b: tensor<4x4xf32>) {
  // expected-error @+1 {{'kiln.matmul' op lhs must have rank >= 2, got 'tensor<4xf32>'}}
  %0 = kiln.matmul %a, %b : tensor<4xf32>, tensor<4x4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @matmul_rhs_rank(%a: tensor<2x3x4x5xf32>, %b: tensor<3x5x6xf32>) {
  // expected-error @+1 {{rhs rank 3 must equal the lhs rank 4 or be 2 (shared by every batch)}}
  %0 = kiln.matmul %a, %b : tensor<2x3x4x5xf32>, tensor<3x5x6xf32> -> tensor<2x3x4x6xf32>
  return
}

// -----

func.func @matmul_contraction(%a: tensor<?x4x768xf32>, %b: tensor<?x512x8xf32>) {
  // expected-error @+1 {{contraction dims differ: lhs [?, 4, 768] has K = 768, rhs [?, 512, 8] has K = 512}}
  %0 = kiln.matmul %a, %b : tensor<?x4x768xf32>, tensor<?x512x8xf32> -> tensor<?x4x8xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<2x4x8xf32>, %b: tensor<3x8x8xf32>) {
  // expected-error @+1 {{batch dim 0 differs: lhs [2, 4, 8], rhs [3, 8, 8]}}
  %0 = kiln.matmul %a, %b : tensor<2x4x8xf32>, tensor<3x8x8xf32> -> tensor<2x4x8xf32>
  return
}

// -----

func.func @matmul_element_type(%a: tensor<4x8xf32>, %b: tensor<8x8xbf16>) {
  // expected-error @+1 {{lhs element type 'f32' differs from rhs element type 'bf16'}}
  %0 = kiln.matmul %a, %b : tensor<4x8xf32>, tensor<8x8xbf16> -> tensor<4x8xf32>
  return
}

// -----

func.func @linear_input_rank(%x: tensor<768xf32>, %w: tensor<768x768xf32>) {
  // expected-error @+1 {{'kiln.linear' op input must have rank >= 2 ([..., tokens, features]), got 'tensor<768xf32>'}}
  %0 = kiln.linear %x, %w layout in_out : (tensor<768xf32>, tensor<768x768xf32>) -> tensor<768xf32>
  return
}

// -----

func.func @linear_weight_rank(%x: tensor<?x768xf32>, %w: tensor<768xf32>) {
  // expected-error @+1 {{weight must be [out, in] (rank 2), got 'tensor<768xf32>'}}
  %0 = kiln.linear %x, %w layout out_in : (tensor<?x768xf32>, tensor<768xf32>) -> tensor<?x768xf32>
  return
}

// -----

func.func @linear_in_features(%x: tensor<?x?x768xf32>, %w: tensor<3072x512xf32>) {
  // expected-error @+1 {{input features 768 differ from the weight's in_features 512 (layout out_in, weight [3072, 512])}}
  %0 = kiln.linear %x, %w layout out_in : (tensor<?x?x768xf32>, tensor<3072x512xf32>) -> tensor<?x?x3072xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<?x?x768xf32>, %w: tensor<768x3072xf32>, %b: tensor<768xf32>) {
  // expected-error @+1 {{bias must be [3072], got 'tensor<768xf32>'}}
  %0 = kiln.linear %x, %w bias %b layout in_out : (tensor<?x?x768xf32>, tensor<768x3072xf32>, tensor<768xf32>) -> tensor<?x?x3072xf32>
  return
}

// -----

func.func @linear_bias_type(%x: tensor<?x?x768xf32>, %w: tensor<768x3072xf32>, %b: tensor<3072xf16>) {
  // expected-error @+1 {{bias element type 'f16' differs from input element type 'f32'}}
  %0 = kiln.linear %x, %w bias %b layout in_out : (tensor<?x?x768xf32>, tensor<768x3072xf32>, tensor<3072xf16>) -> tensor<?x?x3072xf32>
  return
}

// -----

func.func @linear_residual(%x: tensor<?x?x768xf32>, %w: tensor<768x768xf32>, %r: tensor<?x768xf32>) {
  // expected-error @+1 {{residual type 'tensor<?x768xf32>' must equal the result type 'tensor<?x?x768xf32>'}}
  %0 = kiln.linear %x, %w residual %r layout in_out : (tensor<?x?x768xf32>, tensor<768x768xf32>, tensor<?x768xf32>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @linear_weight_type(%x: tensor<?x?x768xf32>, %w: tensor<768x768xbf16>) {
  // expected-error @+1 {{input element type 'f32' differs from weight element type 'bf16'}}
  %0 = kiln.linear %x, %w layout in_out : (tensor<?x?x768xf32>, tensor<768x768xbf16>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @softmax_dim(%x: tensor<?x?xf32>) {
  // expected-error @+1 {{'kiln.softmax' op dim -1 is out of range for rank 2}}
  %0 = kiln.softmax %x dim -1 : tensor<?x?xf32>
  return
}

// -----

func.func @layer_norm_scale(%x: tensor<?x?x768xf32>, %g: tensor<512xf32>) {
  // expected-error @+1 {{'kiln.layer_norm' op scale must be [768] (the normalized last dim), got 'tensor<512xf32>'}}
  %0 = kiln.layer_norm %x scale %g epsilon 1.0e-05 : tensor<?x?x768xf32>, tensor<512xf32>
  return
}

// -----

func.func @layer_norm_bias(%x: tensor<?x?x768xf32>, %g: tensor<768xf32>, %b: tensor<1x768xf32>) {
  // expected-error @+1 {{bias must be [768] (the normalized last dim), got 'tensor<1x768xf32>'}}
  %0 = kiln.layer_norm %x scale %g bias %b epsilon 1.0e-05 : tensor<?x?x768xf32>, tensor<768xf32>, tensor<1x768xf32>
  return
}

// -----

func.func @layer_norm_epsilon(%x: tensor<?x?x768xf32>, %g: tensor<768xf32>) {
  // expected-error @+1 {{epsilon must be finite and non-negative, got -1}}
  %0 = kiln.layer_norm %x scale %g epsilon -1.0 : tensor<?x?x768xf32>, tensor<768xf32>
  return
}

// -----

func.func @layer_norm_rank(%x: tensor<f32>, %g: tensor<1xf32>) {
  // expected-error @+1 {{'kiln.layer_norm' op input must have rank >= 1}}
  %0 = kiln.layer_norm %x scale %g epsilon 1.0e-05 : tensor<f32>, tensor<1xf32>
  return
}

// -----

func.func @rms_norm_scale_type(%x: tensor<?x?x512xf32>, %g: tensor<512xbf16>) {
  // expected-error @+1 {{'kiln.rms_norm' op scale element type 'bf16' differs from input element type 'f32'}}
  %0 = kiln.rms_norm %x scale %g epsilon 1.0e-06 : tensor<?x?x512xf32>, tensor<512xbf16>
  return
}

// -----

func.func @reduce_no_dims(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'kiln.reduce' op needs at least one dim to reduce}}
  %0 = kiln.reduce sum %x dims [] : tensor<?x8xf32> -> tensor<?x8xf32>
  return
}

// -----

func.func @reduce_dim_range(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{reduced dim 2 is out of range for rank 2}}
  %0 = kiln.reduce sum %x dims [2] : tensor<?x8xf32> -> tensor<?x8xf32>
  return
}

// -----

func.func @reduce_dim_order(%x: tensor<?x8x4xf32>) {
  // expected-error @+1 {{reduced dims must be distinct and increasing, got [2, 1]}}
  %0 = kiln.reduce sum %x dims [2, 1] : tensor<?x8x4xf32> -> tensor<?xf32>
  return
}

// -----

func.func @embedding_table(%t: tensor<4x8x2xf32>, %ids: tensor<?xi64>) {
  // expected-error @+1 {{'kiln.embedding' op table must be [vocab, hidden] (rank 2), got 'tensor<4x8x2xf32>'}}
  %0 = kiln.embedding %t[%ids] : tensor<4x8x2xf32>, tensor<?xi64> -> tensor<?x8xf32>
  return
}

// -----

func.func @reshape_element_type(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{'kiln.reshape' op input element type 'f32' differs from result element type 'f16'}}
  %0 = kiln.reshape %x : tensor<4x8xf32> -> tensor<32xf16>
  return
}

// -----

func.func @reshape_count(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{element count differs: [4, 8] has 32, [30] has 30}}
  %0 = kiln.reshape %x : tensor<4x8xf32> -> tensor<30xf32>
  return
}

// -----

func.func @reshape_dynamic_split(%x: tensor<?x768xf32>) {
  // expected-error @+1 {{cannot reshape [?, 768] to [?, ?, 768]: with dynamic dims a reshape must merge adjacent dims, or split a dim into parts of which at most one is dynamic}}
  %0 = kiln.reshape %x : tensor<?x768xf32> -> tensor<?x?x768xf32>
  return
}

// -----

func.func @reshape_dynamic_regroup(%x: tensor<?x?x12x64xf32>) {
  // expected-error @+1 {{cannot reshape [?, ?, 12, 64] to [?, 12, ?, 64]}}
  %0 = kiln.reshape %x : tensor<?x?x12x64xf32> -> tensor<?x12x?x64xf32>
  return
}

// -----

func.func @transpose_permutation(%x: tensor<?x?x12x64xf32>) {
  // expected-error @+1 {{'kiln.transpose' op permutation [0, 2, 2, 3] is not a permutation of the 4 dims of 'tensor<?x?x12x64xf32>'}}
  %0 = kiln.transpose %x [0, 2, 2, 3] : tensor<?x?x12x64xf32> -> tensor<?x12x12x64xf32>
  return
}

// -----

func.func @concat_empty() {
  // expected-error @+1 {{'kiln.concat' op needs at least one input}}
  %0 = "kiln.concat"() {dim = 0 : i64} : () -> tensor<4xf32>
  return
}

// -----

func.func @concat_dim(%a: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.concat' op dim 1 is out of range for rank 1}}
  %0 = kiln.concat %a, %a dim 1 : tensor<4xf32>, tensor<4xf32> -> tensor<8xf32>
  return
}

// -----

func.func @concat_rank(%a: tensor<4xf32>, %b: tensor<4x1xf32>) {
  // expected-error @+1 {{input 1 has rank 2, input 0 has rank 1}}
  %0 = kiln.concat %a, %b dim 0 : tensor<4xf32>, tensor<4x1xf32> -> tensor<8xf32>
  return
}

// -----

func.func @concat_element_type(%a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+1 {{input 0 element type 'f32' differs from input 1 element type 'f16'}}
  %0 = kiln.concat %a, %b dim 0 : tensor<4xf32>, tensor<4xf16> -> tensor<8xf32>
  return
}

// -----

func.func @concat_other_dim(%a: tensor<?x4x32xf32>, %b: tensor<?x5x32xf32>) {
  // expected-error @+1 {{input 1 [?, 5, 32] differs from input 0 [?, 4, 32] in dim 1 (only dim 2 may differ)}}
  %0 = kiln.concat %a, %b dim 2 : tensor<?x4x32xf32>, tensor<?x5x32xf32> -> tensor<?x4x64xf32>
  return
}

// -----

func.func @slice_dim(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{'kiln.slice' op dim 2 is out of range for rank 2}}
  %0 = kiln.slice %x dim 2 [0 : 32] : tensor<?x64xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @slice_range(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{needs 0 <= start < end, got [32 : 32]}}
  %0 = kiln.slice %x dim 1 [32 : 32] : tensor<?x64xf32> -> tensor<?x0xf32>
  return
}

// -----

func.func @slice_step(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{step must be positive, got 0}}
  %0 = kiln.slice %x dim 1 [0 : 32 : 0] : tensor<?x64xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @slice_end(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{end 96 exceeds size 64 of dim 1}}
  %0 = kiln.slice %x dim 1 [32 : 96] : tensor<?x64xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @causal_mask_rank(%s: tensor<?xf32>) {
  // expected-error @+1 {{'kiln.causal_mask' op scores must be [..., q_len, k_len], got 'tensor<?xf32>'}}
  %0 = kiln.causal_mask %s : tensor<?xf32>
  return
}

// -----

func.func @causal_mask_offsets_rank(%s: tensor<?x?xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{with offsets, scores must be [batch, ..., q_len, k_len], got 'tensor<?x?xf32>'}}
  %0 = kiln.causal_mask %s offsets %p : tensor<?x?xf32>, tensor<?xi64>
  return
}

// -----

func.func @causal_mask_offsets(%s: tensor<2x4x1x8xf32>, %p: tensor<3xi64>) {
  // expected-error @+1 {{offsets must be [batch] = [[2]], got 'tensor<3xi64>'}}
  %0 = kiln.causal_mask %s offsets %p : tensor<2x4x1x8xf32>, tensor<3xi64>
  return
}

// -----

func.func @cache_write_rank(%c: tensor<?x64xf32>, %u: tensor<?x?x64xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{'kiln.cache_write' op cache must be [batch, max_seq, width] (rank 3), got 'tensor<?x64xf32>'}}
  %0 = kiln.cache_write %c[%p] = %u : tensor<?x64xf32>, tensor<?x?x64xf32>, tensor<?xi64>
  return
}

// -----

func.func @cache_write_width(%c: tensor<?x16x64xf32>, %u: tensor<?x?x32xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{new rows [?, ?, 32] do not fit cache [?, 16, 64] (expected [batch, seq, width])}}
  %0 = kiln.cache_write %c[%p] = %u : tensor<?x16x64xf32>, tensor<?x?x32xf32>, tensor<?xi64>
  return
}

// -----

func.func @cache_write_rows(%c: tensor<?x16x64xf32>, %u: tensor<?x17x64xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{17 new rows exceed the 16 rows of cache}}
  %0 = kiln.cache_write %c[%p] = %u : tensor<?x16x64xf32>, tensor<?x17x64xf32>, tensor<?xi64>
  return
}

// -----

func.func @cache_write_type(%c: tensor<?x16x64xf32>, %u: tensor<?x1x64xbf16>, %p: tensor<?xi64>) {
  // expected-error @+1 {{cache element type 'f32' differs from new rows element type 'bf16'}}
  %0 = kiln.cache_write %c[%p] = %u : tensor<?x16x64xf32>, tensor<?x1x64xbf16>, tensor<?xi64>
  return
}

// -----

func.func @cache_write_positions(%c: tensor<2x16x64xf32>, %u: tensor<2x1x64xf32>, %p: tensor<2x1xi64>) {
  // expected-error @+1 {{positions must be [batch] = [[2]], got 'tensor<2x1xi64>'}}
  %0 = kiln.cache_write %c[%p] = %u : tensor<2x16x64xf32>, tensor<2x1x64xf32>, tensor<2x1xi64>
  return
}

// -----

func.func @attention_rank(%q: tensor<?x12x?x64xf32>, %k: tensor<?x?x768xf32>) {
  // expected-error @+1 {{'kiln.attention' op query must be [batch, seq, heads * head_dim] (rank 3), got 'tensor<?x12x?x64xf32>'}}
  %0 = kiln.attention %q, %k, %k heads 12 kv_heads 12 mask none
      : (tensor<?x12x?x64xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x12x?x64xf32>
  return
}

// -----

func.func @attention_heads_positive(%q: tensor<?x?x768xf32>) {
  // expected-error @+1 {{num_heads (12) and num_kv_heads (0) must be positive}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 0 mask none
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @attention_gqa_groups(%q: tensor<?x?x768xf32>) {
  // expected-error @+1 {{num_heads (12) must be a multiple of num_kv_heads (5)}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 5 mask none
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @attention_dynamic_hidden(%q: tensor<?x?x?xf32>) {
  // expected-error @+1 {{query hidden size must be static, got 'tensor<?x?x?xf32>'}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask none
      : (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return
}

// -----

func.func @attention_head_dim(%q: tensor<?x?x768xf32>) {
  // expected-error @+1 {{query hidden size 768 is not divisible by num_heads 10}}
  %0 = kiln.attention %q, %q, %q heads 10 kv_heads 10 mask none
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @attention_key_hidden(%q: tensor<?x?x768xf32>, %k: tensor<?x?x768xf32>) {
  // expected-error @+1 {{key hidden size 768 must be num_kv_heads * head_dim = 4 * 64 = 256}}
  %0 = kiln.attention %q, %k, %k heads 12 kv_heads 4 mask none
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @attention_value_hidden(%q: tensor<?x?x768xf32>, %k: tensor<?x?x256xf32>, %v: tensor<?x?x768xf32>) {
  // expected-error @+1 {{value hidden size 768 must be num_kv_heads * head_dim = 256}}
  %0 = kiln.attention %q, %k, %v heads 12 kv_heads 4 mask none
      : (tensor<?x?x768xf32>, tensor<?x?x256xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @attention_key_type(%q: tensor<?x?x768xf32>, %k: tensor<?x?x768xbf16>) {
  // expected-error @+1 {{query element type 'f32' differs from key element type 'bf16'}}
  %0 = kiln.attention %q, %k, %k heads 12 kv_heads 12 mask none
      : (tensor<?x?x768xf32>, tensor<?x?x768xbf16>, tensor<?x?x768xbf16>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @attention_value_type(%q: tensor<?x?x768xf32>, %v: tensor<?x?x768xf16>) {
  // expected-error @+1 {{query element type 'f32' differs from value element type 'f16'}}
  %0 = kiln.attention %q, %q, %v heads 12 kv_heads 12 mask none
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf16>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @attention_batch(%q: tensor<2x?x768xf32>, %k: tensor<3x?x768xf32>) {
  // expected-error @+1 {{batch sizes differ: query [2, ?, 768], [3, ?, 768]}}
  %0 = kiln.attention %q, %k, %k heads 12 kv_heads 12 mask none
      : (tensor<2x?x768xf32>, tensor<3x?x768xf32>, tensor<3x?x768xf32>) -> tensor<2x?x768xf32>
  return
}

// -----

func.func @attention_kv_length(%q: tensor<?x?x768xf32>, %k: tensor<?x4x768xf32>, %v: tensor<?x5x768xf32>) {
  // expected-error @+1 {{key and value lengths differ: [?, 4, 768] vs [?, 5, 768]}}
  %0 = kiln.attention %q, %k, %v heads 12 kv_heads 12 mask none
      : (tensor<?x?x768xf32>, tensor<?x4x768xf32>, tensor<?x5x768xf32>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @attention_partial_cache(%q: tensor<?x1x768xf32>, %c: tensor<?x64x768xf32>) {
  // expected-error @+1 {{a kv cache needs k_cache, v_cache and positions together}}
  %0:2 = "kiln.attention"(%q, %q, %q, %c) <{num_heads = 12 : i64, num_kv_heads = 12 : i64,
      mask = 1 : i32, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 1, 0, 0>}>
      : (tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x64x768xf32>)
      -> (tensor<?x1x768xf32>, tensor<?x64x768xf32>)
  return
}

// -----

func.func @attention_cache_not_causal(%q: tensor<?x1x768xf32>, %c: tensor<?x64x768xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{a kv cache needs a causal mask kind, got 'none'}}
  %0:3 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask none cache(%c, %c, %p)
      : (tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x64x768xf32>, tensor<?x64x768xf32>, tensor<?xi64>)
      -> (tensor<?x1x768xf32>, tensor<?x64x768xf32>, tensor<?x64x768xf32>)
  return
}

// -----

func.func @attention_cache_rank(%q: tensor<?x1x768xf32>, %c: tensor<?x12x64x64xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{k_cache must be [batch, max_seq, width] (rank 3), got 'tensor<?x12x64x64xf32>'}}
  %0:3 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask causal cache(%c, %c, %p)
      : (tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x12x64x64xf32>, tensor<?x12x64x64xf32>, tensor<?xi64>)
      -> (tensor<?x1x768xf32>, tensor<?x12x64x64xf32>, tensor<?x12x64x64xf32>)
  return
}

// -----

func.func @attention_cache_types(%q: tensor<?x1x768xf32>, %kc: tensor<?x64x768xf32>, %vc: tensor<?x32x768xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{k_cache 'tensor<?x64x768xf32>' and v_cache 'tensor<?x32x768xf32>' must have the same type}}
  %0:3 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask causal cache(%kc, %vc, %p)
      : (tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x64x768xf32>, tensor<?x32x768xf32>, tensor<?xi64>)
      -> (tensor<?x1x768xf32>, tensor<?x64x768xf32>, tensor<?x32x768xf32>)
  return
}

// -----

func.func @attention_unused_key_mask(%q: tensor<?x?x768xf32>, %m: tensor<?x?xi64>) {
  // expected-error @+1 {{key_mask given but mask kind 'causal' does not use one}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask causal key_mask %m
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?xi64>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @attention_missing_key_mask(%q: tensor<?x?x768xf32>) {
  // expected-error @+1 {{mask kind 'padding' needs a key_mask operand}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask padding
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @attention_key_mask_shape(%q: tensor<?x8x768xf32>, %m: tensor<?x7xi64>) {
  // expected-error @+1 {{key_mask must be [batch, key_len] = [?, 8], got 'tensor<?x7xi64>'}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask padding key_mask %m
      : (tensor<?x8x768xf32>, tensor<?x8x768xf32>, tensor<?x8x768xf32>, tensor<?x7xi64>) -> tensor<?x8x768xf32>
  return
}

// -----

func.func @attention_bias_shape(%q: tensor<?x?x768xf32>, %b: tensor<1x8x?x?xf32>) {
  // expected-error @+1 {{bias [1, 8, ?, ?] does not broadcast to [batch, num_heads, q_len, k_len] = [?, 12, ?, ?]}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask none bias %b
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<1x8x?x?xf32>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @attention_bias_type(%q: tensor<?x?x768xf32>, %b: tensor<1x12x?x?xf16>) {
  // expected-error @+1 {{bias element type 'f16' differs from query element type 'f32'}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask none bias %b
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<1x12x?x?xf16>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @attention_scale(%q: tensor<?x?x768xf32>) {
  // expected-error @+1 {{scale must be positive and finite, got 0}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask none scale 0.0
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return
}

// -----

func.func @attention_cache_results(%q: tensor<?x?x768xf32>) {
  // expected-error @+1 {{returns 2 updated caches but has no kv cache (expected 0)}}
  %0:3 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask causal
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>)
      -> (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>)
  return
}

// -----

func.func @rotary_rank(%x: tensor<?x?x32x128xf32>, %p: tensor<?x?xi64>) {
  // expected-error @+1 {{'kiln.rotary' op input must be [batch, seq, heads * head_dim] (rank 3), got 'tensor<?x?x32x128xf32>'}}
  %0 = kiln.rotary %x, %p heads 32 theta 1.0e+04 : tensor<?x?x32x128xf32>, tensor<?x?xi64>
  return
}

// -----

func.func @rotary_heads(%x: tensor<?x?x4096xf32>, %p: tensor<?x?xi64>) {
  // expected-error @+1 {{num_heads must be positive, got 0}}
  %0 = kiln.rotary %x, %p heads 0 theta 1.0e+04 : tensor<?x?x4096xf32>, tensor<?x?xi64>
  return
}

// -----

func.func @rotary_odd_head_dim(%x: tensor<?x?x96xf32>, %p: tensor<?x?xi64>) {
  // expected-error @+1 {{hidden size [96] must be num_heads (32) times an even head_dim}}
  %0 = kiln.rotary %x, %p heads 32 theta 1.0e+04 : tensor<?x?x96xf32>, tensor<?x?xi64>
  return
}

// -----

func.func @rotary_positions(%x: tensor<?x8x4096xf32>, %p: tensor<?x9xi64>) {
  // expected-error @+1 {{positions must be [batch, seq] = [?, 8] or [seq], got 'tensor<?x9xi64>'}}
  %0 = kiln.rotary %x, %p heads 32 theta 1.0e+04 : tensor<?x8x4096xf32>, tensor<?x9xi64>
  return
}

// -----

func.func @rotary_theta(%x: tensor<?x?x4096xf32>, %p: tensor<?x?xi64>) {
  // expected-error @+1 {{theta must be positive and finite, got -1}}
  %0 = kiln.rotary %x, %p heads 32 theta -1.0 : tensor<?x?x4096xf32>, tensor<?x?xi64>
  return
}

// -----

func.func @rope_llama3_factor(%x: tensor<?x?x4096xf32>, %p: tensor<?x?xi64>) {
  // expected-error @+1 {{rope_llama3 factor must be positive, got 0}}
  %0 = kiln.rotary %x, %p heads 32 theta 1.0e+04 llama3_scaling <factor = 0.0, low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position_embeddings = 8192> : tensor<?x?x4096xf32>, tensor<?x?xi64>
  return
}

// -----

func.func @rope_llama3_band(%x: tensor<?x?x4096xf32>, %p: tensor<?x?xi64>) {
  // expected-error @+1 {{rope_llama3 needs 0 < low_freq_factor < high_freq_factor, got 4.000000e+00 and 1.000000e+00}}
  %0 = kiln.rotary %x, %p heads 32 theta 1.0e+04 llama3_scaling <factor = 8.0, low_freq_factor = 4.0, high_freq_factor = 1.0, original_max_position_embeddings = 8192> : tensor<?x?x4096xf32>, tensor<?x?xi64>
  return
}

// -----

func.func @rope_llama3_context(%x: tensor<?x?x4096xf32>, %p: tensor<?x?xi64>) {
  // expected-error @+1 {{rope_llama3 original_max_position_embeddings must be positive, got 0}}
  %0 = kiln.rotary %x, %p heads 32 theta 1.0e+04 llama3_scaling <factor = 8.0, low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position_embeddings = 0> : tensor<?x?x4096xf32>, tensor<?x?xi64>
  return
}

// -----

func.func @relative_bias_table_rank(%t: tensor<32xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{'kiln.relative_position_bias' op table must be [num_buckets, heads] (rank 2), got 'tensor<32xf32>'}}
  %0 = kiln.relative_position_bias %t, %p, %p buckets 32 max_distance 128
      : tensor<32xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x1x?x?xf32>
  return
}

// -----

func.func @relative_bias_buckets(%t: tensor<32x8xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{table has 32 rows but num_buckets is 16}}
  %0 = kiln.relative_position_bias %t, %p, %p buckets 16 max_distance 128
      : tensor<32x8xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x8x?x?xf32>
  return
}

// -----

func.func @relative_bias_too_few(%t: tensor<2x8xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{num_buckets 2 is too small for bidirectional bucketing (needs at least 4)}}
  %0 = kiln.relative_position_bias %t, %p, %p bidirectional buckets 2 max_distance 128
      : tensor<2x8xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x8x?x?xf32>
  return
}

// -----

func.func @relative_bias_distance(%t: tensor<32x8xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{max_distance 8 must exceed the exact-bucket range 8}}
  %0 = kiln.relative_position_bias %t, %p, %p bidirectional buckets 32 max_distance 8
      : tensor<32x8xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x8x?x?xf32>
  return
}

// -----

func.func @relative_bias_positions(%t: tensor<32x8xf32>, %p: tensor<?x?xi64>, %k: tensor<?xi64>) {
  // expected-error @+1 {{query_positions must be [q_len] (rank 1), got 'tensor<?x?xi64>'}}
  %0 = kiln.relative_position_bias %t, %p, %k buckets 32 max_distance 128
      : tensor<32x8xf32>, tensor<?x?xi64>, tensor<?xi64> -> tensor<1x8x?x?xf32>
  return
}

// -----

func.func @param_parts_empty() -> tensor<4x8xf32> {
  // expected-error @+1 {{'kiln.param' op parts must name at least one tensor of rank >= 1}}
  %w = kiln.param "merged" parts [] : tensor<4x8xf32>
  return %w : tensor<4x8xf32>
}

// -----

func.func @quant_bits() {
  // expected-error @+1 {{quant bits must be 8 or 4, got 3}}
  %w = kiln.param "w" quant <bits = 3, group = 64, axis = 0> : tensor<4x64xf32>
  return
}

// -----

func.func @quant_group() {
  // expected-error @+1 {{quant group must be positive, got 0}}
  %w = kiln.param "w" quant <bits = 8, group = 0, axis = 0> : tensor<4x64xf32>
  return
}

// -----

func.func @quant_axis() {
  // expected-error @+1 {{quant axis must be 0 or 1, got 2}}
  %w = kiln.param "w" quant <bits = 8, group = 64, axis = 2> : tensor<4x64xf32>
  return
}

// -----

func.func @quant_not_a_matrix() {
  // expected-error @+1 {{'kiln.param' op a quantized weight must be a 2-D float tensor, got 'tensor<64xf32>'}}
  %w = kiln.param "w" quant <bits = 8, group = 64, axis = 0> : tensor<64xf32>
  return
}

// -----

func.func @quant_group_splits_a_block() {
  // expected-error @+1 {{'kiln.param' op quant group 48 is neither a multiple of 32 nor all 64 input features}}
  %w = kiln.param "w" quant <bits = 4, group = 48, axis = 0> : tensor<4x64xf32>
  return
}

// -----

func.func @quant_read_by_other_ops() -> tensor<4x64xf32> {
  // expected-error @+1 {{'kiln.param' op quantized weight 'w' may only be the weight of kiln.linear ops}}
  %w = kiln.param "w" quant <bits = 8, group = 64, axis = 0> : tensor<4x64xf32>
  return %w : tensor<4x64xf32>
}

// -----

func.func @quant_as_linear_input(%w2: tensor<4x64xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{'kiln.param' op quantized weight 'w' may only be the weight of kiln.linear ops}}
  %w = kiln.param "w" quant <bits = 8, group = 64, axis = 0> : tensor<4x64xf32>
  %y = kiln.linear %w, %w2 layout out_in : (tensor<4x64xf32>, tensor<4x64xf32>) -> tensor<4x4xf32>
  return %y : tensor<4x4xf32>
}

// -----

func.func @quant_axis_not_the_output_dim(%x: tensor<2x64xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'kiln.param' op quant axis 1 is not the output-channel dim (0) of its linear's layout}}
  %w = kiln.param "w" quant <bits = 8, group = 64, axis = 1> : tensor<4x64xf32>
  %y = kiln.linear %x, %w layout out_in : (tensor<2x64xf32>, tensor<4x64xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @quant_act_bits() {
  // expected-error @+1 {{quant act_bits must be 0 (weights only) or 8, got 4}}
  %w = kiln.param "w" quant <bits = 8, group = 64, axis = 0, act_bits = 4> : tensor<4x64xf32>
  return
}

// -----

func.func @quant_act_bits_on_int4() {
  // expected-error @+1 {{quant act_bits = 8 needs 8-bit weights, got 4}}
  %w = kiln.param "w" quant <bits = 4, group = 64, axis = 0, act_bits = 8> : tensor<4x64xf32>
  return
}

// -----

func.func @quant_smooth_without_act_bits() {
  // expected-error @+1 {{quant smooth factors need act_bits = 8}}
  %w = kiln.param "w" quant <bits = 8, group = 4, axis = 0, smooth = dense<1.0> : tensor<4xf32>> : tensor<2x4xf32>
  return
}

// -----

func.func @quant_smooth_not_positive() {
  // expected-error @+1 {{quant smooth factors must be positive and finite, got 0}}
  %w = kiln.param "w" quant <bits = 8, group = 4, axis = 0, act_bits = 8, smooth = dense<[1.0, 0.0, 1.0, 1.0]> : tensor<4xf32>> : tensor<2x4xf32>
  return
}

// -----

func.func @quant_smooth_wrong_size(%x: tensor<2x4xf32>) -> tensor<2x2xf32> {
  // expected-error @+1 {{'kiln.param' op quant smooth has 3 factors for 4 input features}}
  %w = kiln.param "w" quant <bits = 8, group = 4, axis = 0, act_bits = 8, smooth = dense<1.0> : tensor<3xf32>> : tensor<2x4xf32>
  %y = kiln.linear %x, %w layout out_in : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @quant_smooth_rank_part(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  // A shard along the input features: the factors are the whole weight's.
  // expected-error @+1 {{'kiln.param' op quant smooth has 2 factors for 4 input features}}
  %w = kiln.param "w" shard <axis = 1, sections = 1, parts = 2, replicas = 1> quant <bits = 8, group = 2, axis = 0, act_bits = 8, smooth = dense<1.0> : tensor<2xf32>> : tensor<2x2xf32>
  %y = kiln.linear %x, %w layout out_in : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @param_part_unnamed() -> tensor<4x8xf32> {
  // expected-error @+1 {{'kiln.param' op needs non-empty part names}}
  %w = kiln.param "merged" parts ["a", ""] : tensor<4x8xf32>
  return %w : tensor<4x8xf32>
}

// -----

func.func @prune_n_not_below_m() {
  // expected-error @+1 {{prune needs 0 < n < m, got n = 4, m = 4}}
  %w = kiln.param "w" prune <n = 4, m = 4, axis = 1> : tensor<4x64xf32>
  return
}

// -----

func.func @prune_axis() {
  // expected-error @+1 {{prune axis must be 0 or 1, got 2}}
  %w = kiln.param "w" prune <n = 2, m = 4, axis = 2> : tensor<4x64xf32>
  return
}

// -----

func.func @prune_fraction() {
  // expected-error @+1 {{prune fraction must be in [0, 1), got 1.5}}
  %w = kiln.param "w" prune <fraction = 1.5> : tensor<4x64xf32>
  return
}

// -----

func.func @prune_threshold() {
  // expected-error @+1 {{prune threshold must be finite and >= 0, got -1}}
  %w = kiln.param "w" prune <threshold = -1.0> : tensor<4x64xf32>
  return
}

// -----

func.func @prune_not_a_matrix() {
  // expected-error @+1 {{'kiln.param' op a pruned weight must be a 2-D float tensor, got 'tensor<64xf32>'}}
  %w = kiln.param "w" prune <fraction = 0.5> : tensor<64xf32>
  return
}

// -----

func.func @prune_groups_do_not_divide(%x: tensor<2x66xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'kiln.param' op prune groups of 4 do not divide dim 1 of 'tensor<4x66xf32>'}}
  %w = kiln.param "w" prune <n = 2, m = 4, axis = 1> : tensor<4x66xf32>
  %y = kiln.linear %x, %w layout out_in : (tensor<2x66xf32>, tensor<4x66xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @prune_read_by_other_ops() -> tensor<4x64xf32> {
  // expected-error @+1 {{'kiln.param' op pruned weight 'w' may only be the weight of kiln.linear ops}}
  %w = kiln.param "w" prune <fraction = 0.5> : tensor<4x64xf32>
  return %w : tensor<4x64xf32>
}

// -----

func.func @prune_axis_not_the_input_dim(%x: tensor<2x64xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'kiln.param' op prune axis 0 is not the input-feature dim (1) of its linear's layout}}
  %w = kiln.param "w" prune <n = 2, m = 4, axis = 0> : tensor<4x64xf32>
  %y = kiln.linear %x, %w layout out_in : (tensor<2x64xf32>, tensor<4x64xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @keep_not_ascending() {
  // expected-error @+1 {{keep indices must be ascending and >= 0}}
  %w = kiln.param "w" keep <axis = 0, indices = [3, 1]> : tensor<2x8xf32>
  return
}

// -----

func.func @keep_count() {
  // expected-error @+1 {{'kiln.param' op keep lists 3 indices, but dim 0 of 'tensor<2x8xf32>' has 2}}
  %w = kiln.param "w" keep <axis = 0, indices = [0, 1, 5]> : tensor<2x8xf32>
  return
}

// -----

func.func @keep_axis() {
  // expected-error @+1 {{'kiln.param' op keep axis 2 is out of range for 'tensor<2x8xf32>'}}
  %w = kiln.param "w" keep <axis = 2, indices = [0, 1]> : tensor<2x8xf32>
  return
}

// -----

func.func @keep_with_parts() {
  // expected-error @+1 {{'kiln.param' op keep cannot be combined with parts}}
  %w = kiln.param "w" parts ["a", "b"] keep <axis = 0, indices = [0, 1]> : tensor<2x8xf32>
  return
}

// -----

func.func @send_recv_backwards(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'kiln.send_recv' op passes values from a stage to a later one (of at most 64), got from 1 to 0}}
  %r = kiln.send_recv %x from 1 to 0 : tensor<?x8xf32>
  return %r : tensor<?x8xf32>
}

// -----

func.func @keep_count_over_shards() {
  // expected-error @+1 {{'kiln.param' op keep lists 3 indices, but dim 0 of 'tensor<2x8xf32>' has 2 in each of its 2 shard parts}}
  %w = kiln.param "w" keep <axis = 0, indices = [0, 2, 4]> shard <axis = 0, sections = 1, parts = 2, replicas = 1> : tensor<2x8xf32>
  return
}

// -----

func.func @shard_pad_past_parts() {
  // expected-error @+1 {{shard pad must be in [0, parts) and needs one section, got pad 2 with 2 parts and 1 sections}}
  %w = kiln.param "w" shard <axis = 0, sections = 1, parts = 2, replicas = 1, pad = 2> : tensor<2x8xf32>
  return
}

// -----

func.func @shard_pad_with_sections() {
  // expected-error @+1 {{shard pad must be in [0, parts) and needs one section, got pad 1 with 2 parts and 3 sections}}
  %w = kiln.param "w" shard <axis = 1, sections = 3, parts = 2, replicas = 1, pad = 1> : tensor<2x6xf32>
  return
}

// -----

func.func @prune_scale_size() {
  // expected-error @+1 {{'kiln.param' op prune scale has 3 factors for 4 input features}}
  %w = kiln.param "w" prune <n = 2, m = 4, axis = 1, scale = array<f32: 1., 2., 3.>> : tensor<2x4xf32>
  return
}

// -----

func.func @prune_scale_negative() {
  // expected-error @+1 {{prune scale factors must be finite and >= 0, got -1}}
  %w = kiln.param "w" prune <fraction = 0.5, axis = 1, scale = array<f32: 1., -1., 3., 4.>> : tensor<2x4xf32>
  return
}

// -----

func.func @prune_scale_not_f32() {
  // expected-error @+1 {{prune scale must be an array<f32: ...>}}
  %w = kiln.param "w" prune <fraction = 0.5, axis = 1, scale = array<f64: 1., 1., 3., 4.>> : tensor<2x4xf32>
  return
}
