// GLSL ES 3.00 sources. Points read their quantized positions for epochs e0 and e1 from one RG16UI
// 2D-array texture (layer = epoch, texel = sample) and mix them with the fractional time.
// The flag and mark bits come from flags.js (one definition for the CPU and the GPU).
import { FLAG_GLSL } from "./flags.js";

export const POINT_VS = `#version 300 es
precision highp float;
precision highp int;
precision highp usampler2DArray;
uniform usampler2DArray u_pos;
uniform sampler2D u_palette;
uniform int u_width;
uniform int u_e0;
uniform int u_e1;
uniform float u_frac;
uniform vec2 u_min;
uniform vec2 u_range;
uniform vec2 u_center;
uniform vec2 u_scale;
uniform float u_size;
uniform float u_dpr;
uniform int u_colorBy;      // 0 label, 1 prediction
uniform int u_hasSel;
uniform int u_hovered;
uniform int u_pass;         // 0 all, 1 selected overlay, 2 hovered overlay
uniform int u_marks;        // MARK bits (flags.js)
uniform int u_nColors;
uniform float u_dim;        // alpha factor of unselected points while something is selected
in uvec4 a_meta;            // label, prediction, previous prediction, flags | confidence << 8
out vec4 v_color;
flat out int v_ring;        // 0 none, 1 dark ring (error), 2 black thick ring (selected/hovered)
flat out int v_flip;
out float v_aa;
out float v_dim;

${FLAG_GLSL}

vec3 classColor(uint c) {
  if (c >= uint(u_nColors)) return vec3(0.55);
  return texelFetch(u_palette, ivec2(int(c), 0), 0).rgb;
}

void main() {
  int i = gl_VertexID;
  uint flags = a_meta.w & 255u;
  if ((flags & HIDDEN) != 0u) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); gl_PointSize = 0.0; return; }
  ivec2 xy = ivec2(i % u_width, i / u_width);
  vec2 q0 = vec2(texelFetch(u_pos, ivec3(xy, u_e0), 0).rg);
  vec2 q1 = vec2(texelFetch(u_pos, ivec3(xy, u_e1), 0).rg);
  vec2 d = u_min + mix(q0, q1, u_frac) / 65535.0 * u_range;
  gl_Position = vec4((d - u_center) * u_scale, 0.0, 1.0);
  float conf = (flags & NOCONF) != 0u ? 1.0 : float(a_meta.w >> 8) / 255.0;
  uint cls = u_colorBy == 0 ? a_meta.x : a_meta.y;
  if (u_colorBy == 0 && a_meta.x == 65535u) cls = a_meta.y;
  float alpha = 0.35 + 0.65 * conf;
  bool sel = (flags & SELECTED) != 0u;
  v_dim = (u_hasSel == 1 && !sel && u_pass == 0) ? u_dim : 1.0;
  alpha *= v_dim;
  float size = u_size;
  v_ring = ((u_marks & MARK_ERRORS) != 0 && (flags & WRONG) != 0u) ? 1 : 0;
  v_flip = ((u_marks & MARK_FLIPS) != 0 && (flags & FLIP) != 0u) ? 1 : 0;
  if (u_pass == 1) { size = u_size + 3.0 * u_dpr; v_ring = 2; alpha = max(alpha, 0.9); }
  if (u_pass == 2) { size = u_size * 1.8 + 4.0 * u_dpr; v_ring = 2; alpha = 1.0; }
  gl_PointSize = size;
  v_aa = 1.5 / size;
  v_color = vec4(classColor(cls), alpha);
}`;

export const POINT_FS = `#version 300 es
precision highp float;
in vec4 v_color;
flat in int v_ring;
flat in int v_flip;
in float v_aa;
in float v_dim;
out vec4 outColor;
void main() {
  vec2 p = gl_PointCoord * 2.0 - 1.0;
  float r = length(p);
  float a = 1.0 - smoothstep(1.0 - v_aa, 1.0, r);
  if (a <= 0.0) discard;
  vec3 c = v_color.rgb;
  float alpha = v_color.a;
  if (v_ring == 1 && r > 0.62) { c = vec3(0.12); alpha = max(alpha, 0.85 * v_dim); }
  if (v_ring == 2 && r > 0.55) { c = vec3(0.0); alpha = 1.0; }
  if (v_flip == 1 && r < 0.38) { c = vec3(1.0); alpha = max(alpha, 0.9 * v_dim); }
  alpha *= a;
  outColor = vec4(c * alpha, alpha);
}`;

export const QUAD_VS = `#version 300 es
precision highp float;
uniform vec4 u_bounds;      // xmin, ymin, xmax, ymax
uniform vec2 u_center;
uniform vec2 u_scale;
out vec2 v_uv;
void main() {
  vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));
  vec2 d = mix(u_bounds.xy, u_bounds.zw, corner);
  // Territory rows: row 0 is the TOP (y = ymax), column 0 is x = xmin; texture v = 0 is row 0.
  v_uv = vec2(corner.x, 1.0 - corner.y);
  gl_Position = vec4((d - u_center) * u_scale, 0.0, 1.0);
}`;

export const QUAD_FS = `#version 300 es
precision highp float;
uniform sampler2D u_t0;
uniform sampler2D u_t1;
uniform float u_frac;
uniform float u_opacity;
uniform float u_floor;      // the least alpha kept far from the samples: 0 (extent "support") or more ("full")
in vec2 v_uv;
out vec4 outColor;
void main() {
  // the image's alpha is the territory's support (1 near samples, 0 far from them: engine/territory.py)
  vec4 c = mix(texture(u_t0, v_uv), texture(u_t1, v_uv), u_frac);
  float a = u_opacity * (u_floor + (1.0 - u_floor) * c.a);
  outColor = vec4(c.rgb * a, a);
}`;
