// WebGL2 renderer: all epochs' quantized positions resident in one RG16UI 2D-array texture, per-point
// metadata in one dynamic uint16x4 attribute buffer, territories as an LRU of textures cross-faded with t.
import { POINT_VS, POINT_FS, QUAD_VS, QUAD_FS } from "./shaders.js";

function compile(gl, type, src) {
  const s = gl.createShader(type);
  gl.shaderSource(s, src);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) {
    const log = gl.getShaderInfoLog(s);
    gl.deleteShader(s);
    throw new Error("shader compile failed: " + log);
  }
  return s;
}

/** Compile and link a program; returns {p, uni: {name: location}} (also used by the debugger's layers). */
export function program(gl, vs, fs) {
  const p = gl.createProgram();
  const v = compile(gl, gl.VERTEX_SHADER, vs);
  const f = compile(gl, gl.FRAGMENT_SHADER, fs);
  gl.attachShader(p, v);
  gl.attachShader(p, f);
  gl.linkProgram(p);
  gl.deleteShader(v);
  gl.deleteShader(f);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error("program link failed: " + gl.getProgramInfoLog(p));
  const uni = {};
  const n = gl.getProgramParameter(p, gl.ACTIVE_UNIFORMS);
  for (let i = 0; i < n; i++) {
    const info = gl.getActiveUniform(p, i);
    uni[info.name] = gl.getUniformLocation(p, info.name);
  }
  return { p, uni };
}

/** Create a WebGL2 context or return null (the caller shows a readable message). */
export function createContext(canvas) {
  try {
    return canvas.getContext("webgl2", { antialias: false, alpha: false, premultipliedAlpha: true,
      preserveDrawingBuffer: true, powerPreference: "high-performance" });
  } catch (e) {
    return null;
  }
}

export class Renderer {
  constructor(gl) {
    this.gl = gl;
    this.points = program(gl, POINT_VS, POINT_FS);
    this.quad = program(gl, QUAD_VS, QUAD_FS);
    this.vao = gl.createVertexArray();
    this.emptyVao = gl.createVertexArray();
    this.metaBuf = gl.createBuffer();
    this.selBuf = gl.createBuffer();
    this.selCount = 0;
    this.posTex = null;
    this.paletteTex = null;
    this.nColors = 0;
    this.n = 0;
    this.terr = new Map(); // epoch index -> { tex, used }
    this.maxLayers = gl.getParameter(gl.MAX_ARRAY_TEXTURE_LAYERS);
    this.maxSize = gl.getParameter(gl.MAX_TEXTURE_SIZE);
    const range = gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE);
    this.maxPointSize = range ? range[1] : 64;
  }

  /** Allocate the position texture for n samples x E epochs. Throws a readable error when too large. */
  allocate(n, nEpochs) {
    const gl = this.gl;
    this.n = n;
    this.nEpochs = nEpochs;
    this.width = Math.max(1, Math.min(n, 4096, this.maxSize));
    this.rows = Math.max(1, Math.ceil(n / this.width));
    if (nEpochs > this.maxLayers) throw new Error(`${nEpochs} epochs exceed this GPU's ${this.maxLayers} texture layers`);
    if (this.rows > this.maxSize) throw new Error(`${n} points exceed this GPU's texture size`);
    if (this.posTex) gl.deleteTexture(this.posTex);
    this.posTex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, this.posTex);
    gl.texStorage3D(gl.TEXTURE_2D_ARRAY, 1, gl.RG16UI, this.width, this.rows, Math.max(1, nEpochs));
    gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.bindVertexArray(this.vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.metaBuf);
    gl.bufferData(gl.ARRAY_BUFFER, n * 8, gl.DYNAMIC_DRAW);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribIPointer(0, 4, gl.UNSIGNED_SHORT, 0, 0);
    gl.bindVertexArray(null);
    this.bytes = this.width * this.rows * Math.max(1, nEpochs) * 4;
  }

  /** Upload samples s0..s0+ns of epoch e (Uint16Array, 2 per sample). */
  uploadPositions(e, s0, data) {
    const gl = this.gl;
    const W = this.width;
    const end = s0 + data.length / 2;
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, this.posTex);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    let s = s0;
    let off = 0;
    while (s < end) {
      const row = Math.floor(s / W);
      const col = s % W;
      if (col === 0 && end - s >= W) {
        const rows = Math.floor((end - s) / W);
        gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, 0, 0, row, e, W, rows, 1, gl.RG_INTEGER, gl.UNSIGNED_SHORT, data, off);
        s += rows * W;
        off += rows * W * 2;
      } else {
        const len = Math.min(W - col, end - s);
        gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, 0, col, row, e, len, 1, 1, gl.RG_INTEGER, gl.UNSIGNED_SHORT, data, off);
        s += len;
        off += len * 2;
      }
    }
  }

  uploadMeta(meta) {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.metaBuf);
    gl.bufferSubData(gl.ARRAY_BUFFER, 0, meta);
  }

  uploadSelection(indices) {
    const gl = this.gl;
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.selBuf);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, indices, gl.DYNAMIC_DRAW);
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, null);
    this.selCount = indices.length;
  }

  setPalette(rgb /* Uint8Array 3 per class */) {
    const gl = this.gl;
    const n = Math.max(1, rgb.length / 3);
    const data = new Uint8Array(n * 4);
    for (let i = 0; i < rgb.length / 3; i++) {
      data[i * 4] = rgb[i * 3];
      data[i * 4 + 1] = rgb[i * 3 + 1];
      data[i * 4 + 2] = rgb[i * 3 + 2];
      data[i * 4 + 3] = 255;
    }
    if (this.paletteTex) gl.deleteTexture(this.paletteTex);
    this.paletteTex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, this.paletteTex);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, n, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, data);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    this.nColors = rgb.length / 3;
  }

  hasTerritory(k) {
    return this.terr.has(k);
  }

  /** Upload a decoded territory image (ImageBitmap) for epoch index k; keeps at most `keep` textures. */
  setTerritory(k, bitmap, keep = 12, pinned = []) {
    const gl = this.gl;
    const tex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    const old = this.terr.get(k);
    if (old) gl.deleteTexture(old.tex);
    this.terr.set(k, { tex, used: performance.now() });
    if (this.terr.size > keep) {
      const victims = [...this.terr.entries()].filter(([j]) => !pinned.includes(j)).sort((a, b) => a[1].used - b[1].used);
      for (const [j, v] of victims.slice(0, this.terr.size - keep)) {
        gl.deleteTexture(v.tex);
        this.terr.delete(j);
      }
    }
  }

  /**
   * Draw one frame. s: {width, height (device px), dpr, e0, e1, frac, bounds, center, k (css px per unit),
   * pointSize, colorBy, hasSel, hovered, marks, territory: {k0, k1, frac, opacity, floor} | null, dim (alpha factor of
   * unselected points, default 0.22), layers: {under: [], over: []} | null (each has draw(g): drawn before /
   * after the points with g, the frame context below)}
   */
  draw(s) {
    const gl = this.gl;
    gl.viewport(0, 0, s.width, s.height);
    gl.clearColor(1, 1, 1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    if (!this.posTex || !this.n) return 0;
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    const [xmin, ymin, xmax, ymax] = s.bounds;
    const sx = (2 * s.k * s.dpr) / s.width;
    const sy = (2 * s.k * s.dpr) / s.height;

    if (s.territory) {
      const t0 = this.terr.get(s.territory.k0);
      const t1 = this.terr.get(s.territory.k1) || t0;
      if (t0) {
        t0.used = t1.used = performance.now();
        const q = this.quad;
        gl.useProgram(q.p);
        gl.bindVertexArray(this.emptyVao);
        gl.activeTexture(gl.TEXTURE0);
        gl.bindTexture(gl.TEXTURE_2D, t0.tex);
        gl.activeTexture(gl.TEXTURE1);
        gl.bindTexture(gl.TEXTURE_2D, t1.tex);
        gl.uniform1i(q.uni.u_t0, 0);
        gl.uniform1i(q.uni.u_t1, 1);
        gl.uniform1f(q.uni.u_frac, t1 === t0 ? 0 : s.territory.frac);
        gl.uniform1f(q.uni.u_opacity, s.territory.opacity);
        gl.uniform1f(q.uni.u_floor, s.territory.floor || 0);
        gl.uniform4f(q.uni.u_bounds, xmin, ymin, xmax, ymax);
        gl.uniform2f(q.uni.u_center, s.center[0], s.center[1]);
        gl.uniform2f(q.uni.u_scale, sx, sy);
        gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
      }
    }

    const g = {
      posTex: this.posTex, palette: this.paletteTex, nColors: this.nColors, width: this.width, n: this.n,
      nEpochs: this.nEpochs, min: [xmin, ymin], range: [xmax - xmin || 1, ymax - ymin || 1], center: s.center,
      scale: [sx, sy], px: [s.width, s.height], dpr: s.dpr, e0: s.e0, e1: s.e1, frac: s.frac, pointSize: s.pointSize * s.dpr,
    };
    for (const layer of s.layers?.under || []) layer.draw(g);

    const P = this.points;
    gl.useProgram(P.p);
    gl.bindVertexArray(this.vao);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, this.posTex);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, this.paletteTex);
    const u = P.uni;
    gl.uniform1i(u.u_pos, 0);
    gl.uniform1i(u.u_palette, 1);
    gl.uniform1i(u.u_nColors, this.nColors);
    gl.uniform1i(u.u_width, this.width);
    gl.uniform1i(u.u_e0, s.e0);
    gl.uniform1i(u.u_e1, s.e1);
    gl.uniform1f(u.u_frac, s.frac);
    gl.uniform2f(u.u_min, xmin, ymin);
    gl.uniform2f(u.u_range, xmax - xmin || 1, ymax - ymin || 1);
    gl.uniform2f(u.u_center, s.center[0], s.center[1]);
    gl.uniform2f(u.u_scale, sx, sy);
    gl.uniform1f(u.u_dpr, s.dpr);
    gl.uniform1f(u.u_size, Math.min(s.pointSize * s.dpr, this.maxPointSize / 2));
    gl.uniform1i(u.u_colorBy, s.colorBy);
    gl.uniform1i(u.u_hasSel, s.hasSel ? 1 : 0);
    gl.uniform1i(u.u_marks, s.marks);
    gl.uniform1f(u.u_dim, s.dim ?? 0.22);
    gl.uniform1i(u.u_pass, 0);
    gl.drawArrays(gl.POINTS, 0, this.n);
    let drawn = this.n;
    if (s.hasSel && this.selCount) {
      gl.uniform1i(u.u_pass, 1);
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.selBuf);
      gl.drawElements(gl.POINTS, this.selCount, gl.UNSIGNED_INT, 0);
      drawn += this.selCount;
    }
    if (s.hovered >= 0 && s.hovered < this.n) {
      gl.uniform1i(u.u_pass, 2);
      gl.drawArrays(gl.POINTS, s.hovered, 1);
    }
    gl.bindVertexArray(null);
    for (const layer of s.layers?.over || []) layer.draw(g);
    return drawn;
  }

  dispose() {
    const gl = this.gl;
    for (const v of this.terr.values()) gl.deleteTexture(v.tex);
    this.terr.clear();
    if (this.posTex) gl.deleteTexture(this.posTex);
    if (this.paletteTex) gl.deleteTexture(this.paletteTex);
    gl.deleteBuffer(this.metaBuf);
    gl.deleteBuffer(this.selBuf);
    gl.deleteVertexArray(this.vao);
    gl.deleteVertexArray(this.emptyVao);
    gl.deleteProgram(this.points.p);
    gl.deleteProgram(this.quad.p);
    const ext = gl.getExtension("WEBGL_lose_context");
    if (ext) ext.loseContext();
  }
}
