// Command gocheck verifies a Trailmark tenant log with Go's reference implementation of
// signed notes and tiled transparency logs (golang.org/x/mod/sumdb/note and sumdb/tlog),
// as the API contract's interoperability clause requires. It trusts nothing the server says
// that it can check itself:
//
//   - the latest checkpoint (fetched) and every checkpoint in the input are opened with
//     note.Open against the given verifier key, and their bodies parsed by hand (C2SP
//     tlog-checkpoint: origin, decimal size, base64 root);
//   - the entry bundles of the latest tree are read, every leaf hashed with tlog.RecordHash,
//     and Go's own stored hashes built from them; every hash tile of every checkpointed size
//     (full tiles and the partial tiles of that size) is rebuilt with tlog.ReadTileData and
//     compared byte for byte with the served one (Debian's x/mod 0.7.0 TileHashReader does
//     not check every full tile it reads), and so is each older size's partial entry bundle;
//   - each checkpoint's root is recomputed from the leaves (tlog.TreeHash) and from the served
//     tiles (tlog.TileHashReader), and Go proves with tlog.ProveTree that it is a prefix of
//     the latest tree;
//   - each inclusion proof in the input is checked with tlog.CheckRecord, each consistency
//     proof with tlog.CheckTree, and both must equal, element for element, the proofs Go
//     computes itself (tlog.ProveRecord, tlog.ProveTree) over the served tiles.
//
// With -min-index (a pruned log, C2SP tlog-tiles "Pruning"), the same checks are made of
// everything at or above the minimum index, and nothing wholly below it is ever requested (a
// request for such a tile, by this program or by x/mod on its behalf, fails the run and names
// the tile):
//
//   - /key must report that minimum index, and its prune anchor must open with note.Open
//     against the same verifier key; the checkpoint the anchor names joins the signed sizes;
//   - the entry bundles are read from the minimum index on, and Go's stored hashes built from
//     those leaves; a hash of a subtree wholly below the minimum index (level 8 and up, in the
//     level-1 tiles) is read through tlog.TileHashReader, which authenticates it against the
//     latest signed root, and counted;
//   - every served tile at or above the minimum index is compared with the one rebuilt from the
//     leaves (a tile straddling it, only in its hashes at or above it);
//   - the leaves listed in the input ("leaves") are proved by Go itself from the entry bundles
//     with tlog.ProveRecord over the served tiles and checked with tlog.CheckRecord against
//     every signed size that holds them;
//   - a signed size below the minimum index is only verified (its signature, and the served
//     consistency proofs from it with tlog.CheckTree): Go's own tlog.TreeHash and
//     tlog.ProveTree of such a tree need tiles that are pruned, so they are not asked.
//
// The input file is JSON: {"checkpoints": [signed note text, ...], "inclusion": [the
// responses of GET /audits/{id}/proof], "consistency": [the responses of GET
// /logs/{tenant}/consistency], "leaves": [leaf indexes, with -min-index]}. Exit status 0 and
// a summary when everything holds, 1 and one line per failure otherwise, 2 for bad usage.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// C2SP tlog-tiles fixes the tile height at 8 (256 hashes per full tile).
const (
	tileHeight = 8
	tileWidth  = 1 << tileHeight
)

var decimal = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)

type inclusionProof struct {
	ID         string   `json:"id"`
	Seq        int64    `json:"seq"`
	LeafIndex  int64    `json:"leaf_index"`
	TreeSize   int64    `json:"tree_size"`
	LeafData   string   `json:"leaf_data"`
	LeafHash   string   `json:"leaf_hash"`
	Inclusion  []string `json:"inclusion"`
	Checkpoint string   `json:"checkpoint"`
}

type consistencyProof struct {
	From  int64    `json:"from"`
	To    int64    `json:"to"`
	Proof []string `json:"proof"`
}

type input struct {
	Checkpoints []string           `json:"checkpoints"`
	Inclusion   []inclusionProof   `json:"inclusion"`
	Consistency []consistencyProof `json:"consistency"`
	Leaves      []int64            `json:"leaves"` // leaf indexes Go proves itself (-min-index)
}

// logKey is the response of GET /logs/{tenant}/key.
type logKey struct {
	Origin      string  `json:"origin"`
	VerifierKey string  `json:"verifier_key"`
	MinIndex    *int64  `json:"min_index"`
	PruneAnchor *string `json:"prune_anchor"`
}

// checkpoint is a signed checkpoint whose signature was verified.
type checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

type checker struct {
	base      string
	token     string
	origin    string
	verifiers note.Verifiers
	http      *http.Client
	tiles     map[string][]byte // served bytes by C2SP path (tlog authenticates on every read)
	requests  int
	failures  []string

	latest checkpoint
	signed map[int64]checkpoint // every verified checkpoint, by size
	leaves [][]byte             // the latest tree's leaves from minIndex on, from its entry bundles
	stored []tlog.Hash          // Go's stored hashes of those leaves (tlog.StoredHashes), from storedBase

	// A pruned log (-min-index): the first leaf served, the first stored hash index built from
	// the leaves (tlog.StoredHashCount(minIndex)), and the tiles requested.
	minIndex   int64
	storedBase int64
	requested  map[string]bool

	tilesCompared   int
	bundlesCompared int
	inclusionOK     int
	consistencyOK   int
	hashesBelow     int // stored hashes below minIndex read through tlog.TileHashReader
	tilesStraddling int // tiles across minIndex compared in their hashes at or above it
	tilesUncompared int // tiles whose every hash is of pruned leaves: authenticated by roots only
	recordsOK       int // Go's own record proofs of input leaves, one per leaf and signed size
	sizesBelow      int // signed sizes below minIndex: signatures and served proofs only
	checkOnlyOK     int // consistency proofs from below minIndex, checked with tlog.CheckTree only
	anchorSize      int64
}

func (c *checker) failf(format string, args ...interface{}) {
	c.failures = append(c.failures, fmt.Sprintf(format, args...))
}

// fatal reports the failures so far and this one, and exits: nothing after can be checked.
func (c *checker) fatal(format string, args ...interface{}) {
	c.failf(format, args...)
	c.report()
}

func (c *checker) report() {
	if len(c.failures) == 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "gocheck: %d failure(s) verifying %s with golang.org/x/mod/sumdb:\n", len(c.failures), c.base)
	for _, failure := range c.failures {
		fmt.Fprintf(os.Stderr, "FAIL: %s\n", failure)
	}
	os.Exit(1)
}

// get fetches a path under the log's URL prefix with the bearer token.
func (c *checker) get(path string) ([]byte, error) {
	body, _, err := c.fetch(path)
	return body, err
}

// fetch is get, with the response's headers.
func (c *checker) fetch(path string) ([]byte, http.Header, error) {
	request, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, nil, err
	}
	if c.token != "" {
		request.Header.Set("Authorization", "Bearer "+c.token)
	}
	c.requests++
	response, err := c.http.Do(request)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %v", path, err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: reading the body: %v", path, err)
	}
	if response.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: status %d: %.300s", path, response.StatusCode, body)
	}
	return body, response.Header, nil
}

// c2spPath is the C2SP tlog-tiles path of a tile: Go's Tile.Path() without the height
// element ("tile/8/L/NNN[.p/W]" -> "tile/L/NNN[.p/W]"), and "entries" for Go's "data" level.
func c2spPath(t tlog.Tile) string {
	prefix := fmt.Sprintf("tile/%d/", tileHeight)
	path := t.Path()
	if t.H != tileHeight || !strings.HasPrefix(path, prefix) {
		panic(fmt.Sprintf("not a height-%d tile: %s", tileHeight, path))
	}
	path = "tile/" + strings.TrimPrefix(path, prefix)
	if t.L == -1 {
		path = "tile/entries/" + strings.TrimPrefix(path, "tile/data/")
	}
	return path
}

// tileStart and tileEnd are the first leaf a tile covers and the one after its last, were it
// full: the entry bundle N covers leaves [256N, 256(N+1)), a level-L hash tile N the leaves
// [N*256**(L+1), (N+1)*256**(L+1)).
func tileStart(t tlog.Tile) int64 { return t.N << (uint(tileLevel(t)+1) * tileHeight) }
func tileEnd(t tlog.Tile) int64   { return (t.N + 1) << (uint(tileLevel(t)+1) * tileHeight) }

func tileLevel(t tlog.Tile) int {
	if t.L == -1 {
		return 0 // an entry bundle spans the leaves a level-0 tile does
	}
	return t.L
}

// pruned says whether a tile is wholly below the minimum index: not served any more.
func (c *checker) pruned(t tlog.Tile) bool {
	return c.minIndex > 0 && tileEnd(t) <= c.minIndex
}

// servedTile reads a tile once. Every tile this program or x/mod reads comes through here, so
// a tile wholly below the minimum index is refused here, before any request, and reported.
func (c *checker) servedTile(t tlog.Tile) ([]byte, error) {
	path := c2spPath(t)
	if data, ok := c.tiles[path]; ok {
		return data, nil
	}
	if c.pruned(t) {
		err := fmt.Errorf("%s is wholly below the minimum index %d (it ends at leaf %d): pruned, not requested", path, c.minIndex, tileEnd(t))
		c.failf("asked to read a pruned tile: %v", err)
		return nil, err
	}
	c.requested[path] = true
	data, err := c.get(path)
	if err != nil {
		return nil, err
	}
	c.tiles[path] = data
	return data, nil
}

// tileReader serves tlog.TileHashReader from the HTTP tiles.
type tileReader struct{ c *checker }

func (r tileReader) Height() int { return tileHeight }

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	data := make([][]byte, len(tiles))
	for i, t := range tiles {
		tile, err := r.c.servedTile(t)
		if err != nil {
			return nil, err
		}
		data[i] = tile
	}
	return data, nil
}

func (r tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

func (c *checker) tileHashReader(cp checkpoint) tlog.HashReader {
	return tlog.TileHashReader(tlog.Tree{N: cp.Size, Hash: cp.Root}, tileReader{c})
}

// memory reads Go's own stored hashes of the leaves. In a pruned log a stored hash below
// those built from the leaves (of a subtree wholly below the minimum index) is read through
// tlog.TileHashReader of the latest tree, which authenticates it against the signed root.
func (c *checker) memory() tlog.HashReader {
	return c.hashReader(true)
}

// leafMemory reads only the stored hashes built from the leaves read.
func (c *checker) leafMemory() tlog.HashReader {
	return c.hashReader(false)
}

func (c *checker) hashReader(below bool) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		hashes := make([]tlog.Hash, len(indexes))
		var missing []int64 // below the leaves read: from the tiles
		var at []int
		for i, index := range indexes {
			switch {
			case index >= c.storedBase && index < c.storedBase+int64(len(c.stored)):
				hashes[i] = c.stored[index-c.storedBase]
			case index >= 0 && index < c.storedBase && below:
				missing = append(missing, index)
				at = append(at, i)
			case index >= 0 && index < c.storedBase:
				level, n := tlog.SplitStoredHashIndex(index)
				return nil, fmt.Errorf("stored hash %d (level %d, node %d) is below the leaves read, which start at %d", index, level, n, c.minIndex)
			default:
				return nil, fmt.Errorf("stored hash %d is beyond the %d leaves read", index, c.minIndex+int64(len(c.leaves)))
			}
		}
		if len(missing) > 0 {
			read, err := c.tileHashReader(c.latest).ReadHashes(missing)
			if err != nil {
				return nil, fmt.Errorf("stored hashes %v below the minimum index, through tlog.TileHashReader: %v", missing, err)
			}
			for j, i := range at {
				hashes[i] = read[j]
			}
			c.hashesBelow += len(missing)
		}
		return hashes, nil
	})
}

// leaf is the leaf at an index of the latest tree, from the entry bundles read.
func (c *checker) leaf(index int64) ([]byte, bool) {
	if index < c.minIndex || index-c.minIndex >= int64(len(c.leaves)) {
		return nil, false
	}
	return c.leaves[index-c.minIndex], true
}

// openCheckpoint verifies a checkpoint's signature and parses its body (C2SP
// tlog-checkpoint). tlog.ParseTree expects Go's own "go.sum database tree" header, so the
// body is parsed here.
func (c *checker) openCheckpoint(text string) (checkpoint, error) {
	opened, err := note.Open([]byte(text), c.verifiers)
	if err != nil {
		return checkpoint{}, fmt.Errorf("signature not verified with the given key: %v", err)
	}
	for _, sig := range opened.Sigs {
		if sig.Name != c.origin {
			return checkpoint{}, fmt.Errorf("signed by key name %q, not the origin %q", sig.Name, c.origin)
		}
	}
	body := opened.Text
	if !strings.HasSuffix(body, "\n") {
		return checkpoint{}, fmt.Errorf("body does not end with a newline: %q", body)
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if len(lines) < 3 {
		return checkpoint{}, fmt.Errorf("body has %d lines, want origin, size, root: %q", len(lines), body)
	}
	for i, line := range lines[3:] {
		if line == "" {
			return checkpoint{}, fmt.Errorf("empty extension line %d in %q", i+1, body)
		}
	}
	if lines[0] != c.origin {
		return checkpoint{}, fmt.Errorf("origin %q, want %q", lines[0], c.origin)
	}
	if !decimal.MatchString(lines[1]) {
		return checkpoint{}, fmt.Errorf("size %q is not a canonical decimal", lines[1])
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return checkpoint{}, fmt.Errorf("size %q: %v", lines[1], err)
	}
	root, err := decodeHash(lines[2])
	if err != nil {
		return checkpoint{}, fmt.Errorf("root: %v", err)
	}
	return checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

func decodeHash(text string) (tlog.Hash, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(text)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("%q is not standard base64: %v", text, err)
	}
	if len(raw) != tlog.HashSize {
		return tlog.Hash{}, fmt.Errorf("%q decodes to %d bytes, want %d", text, len(raw), tlog.HashSize)
	}
	var hash tlog.Hash
	copy(hash[:], raw)
	return hash, nil
}

func decodeHashes(texts []string) ([]tlog.Hash, error) {
	hashes := make([]tlog.Hash, len(texts))
	for i, text := range texts {
		hash, err := decodeHash(text)
		if err != nil {
			return nil, fmt.Errorf("hash %d: %v", i, err)
		}
		hashes[i] = hash
	}
	return hashes, nil
}

// sameHashes says where two proofs differ, or "" when they are equal.
func sameHashes(served, own []tlog.Hash) string {
	if len(served) != len(own) {
		return fmt.Sprintf("%d hashes, Go's has %d (served %v, Go %v)", len(served), len(own), served, own)
	}
	for i := range served {
		if served[i] != own[i] {
			return fmt.Sprintf("hash %d is %v, Go's is %v", i, served[i], own[i])
		}
	}
	return ""
}

// record adds a verified checkpoint; two different roots for one size is a split view.
func (c *checker) record(cp checkpoint, where string) {
	if previous, ok := c.signed[cp.Size]; ok && previous.Root != cp.Root {
		c.failf("%s: two signed roots for size %d: %v and %v", where, cp.Size, previous.Root, cp.Root)
		return
	}
	c.signed[cp.Size] = cp
}

// decodeBundle splits an entry bundle: each entry a big-endian uint16 length and its bytes.
func decodeBundle(data []byte) ([][]byte, error) {
	var entries [][]byte
	for offset := 0; offset < len(data); {
		if offset+2 > len(data) {
			return nil, fmt.Errorf("ends inside a length prefix at byte %d", offset)
		}
		size := int(binary.BigEndian.Uint16(data[offset:]))
		offset += 2
		if offset+size > len(data) {
			return nil, fmt.Errorf("ends inside an entry at byte %d", offset)
		}
		entries = append(entries, data[offset:offset+size])
		offset += size
	}
	return entries, nil
}

func encodeBundle(entries [][]byte) []byte {
	var out bytes.Buffer
	for _, entry := range entries {
		var prefix [2]byte
		binary.BigEndian.PutUint16(prefix[:], uint16(len(entry)))
		out.Write(prefix[:])
		out.Write(entry)
	}
	return out.Bytes()
}

// readLeaves reads the latest tree's entry bundles (from the minimum index on) and builds
// Go's stored hashes from them.
func (c *checker) readLeaves() {
	size := c.latest.Size
	for n := c.minIndex / tileWidth; n*tileWidth < size; n++ {
		width := size - n*tileWidth
		if width > tileWidth {
			width = tileWidth
		}
		bundle := tlog.Tile{H: tileHeight, L: -1, N: n, W: int(width)}
		data, err := c.servedTile(bundle)
		if err != nil {
			c.fatal("entry bundle: %v", err)
		}
		entries, err := decodeBundle(data)
		if err != nil {
			c.fatal("entry bundle %s: %v", c2spPath(bundle), err)
		}
		if int64(len(entries)) != width {
			c.fatal("entry bundle %s has %d entries, want %d", c2spPath(bundle), len(entries), width)
		}
		c.leaves = append(c.leaves, entries...)
		c.bundlesCompared++
	}
	for i, leaf := range c.leaves {
		index := c.minIndex + int64(i)
		hashes, err := tlog.StoredHashes(index, leaf, c.memory())
		if err != nil {
			c.fatal("building stored hashes of leaf %d: %v", index, err)
		}
		c.stored = append(c.stored, hashes...)
	}
	if want := tlog.StoredHashCount(size); c.storedBase+int64(len(c.stored)) != want {
		c.fatal("built stored hashes %d to %d, tlog.StoredHashCount(%d) = %d", c.storedBase, c.storedBase+int64(len(c.stored)), size, want)
	}
}

// tilesOf lists the hash tiles a tree of this size publishes: every full tile (which never
// changes) and, on each level, the partial tile of exactly this size's width.
func tilesOf(size int64) []tlog.Tile {
	var tiles []tlog.Tile
	for _, t := range tlog.NewTiles(tileHeight, 0, size) {
		if t.W == tileWidth || int64(t.W) == (size>>(uint(t.L)*tileHeight))%tileWidth {
			tiles = append(tiles, t)
		}
	}
	return tiles
}

// checkSize checks one signed size against the leaves and the served tiles.
func (c *checker) checkSize(cp checkpoint, compared map[string]bool) {
	where := fmt.Sprintf("checkpoint of size %d", cp.Size)
	if cp.Size > 0 && cp.Size < c.minIndex {
		// Its root, tiles and Go's own proofs from it all need hashes in pruned tiles; only
		// its signature (verified) and the served consistency proofs from it can be checked.
		c.sizesBelow++
		return
	}
	if cp.Size == 0 {
		// RFC 9162: the empty tree's hash is SHA-256 of the empty string (Go's tlog.TreeHash
		// defines it as all zeros instead, so it is not asked).
		if empty := tlog.Hash(sha256.Sum256(nil)); cp.Root != empty {
			c.failf("%s: root %v, RFC 9162 says SHA-256(\"\") = %v", where, cp.Root, empty)
		}
		return
	}
	fromLeaves, err := tlog.TreeHash(cp.Size, c.memory())
	if err != nil {
		c.failf("%s: tlog.TreeHash over the leaves: %v", where, err)
	} else if fromLeaves != cp.Root {
		c.failf("%s: root %v, but tlog.TreeHash of the first %d leaves of the entry bundles is %v", where, cp.Root, cp.Size, fromLeaves)
	}

	// Every tile of this size, rebuilt from the leaves, byte for byte.
	for _, t := range tilesOf(cp.Size) {
		path := c2spPath(t)
		if compared[path] || c.pruned(t) {
			continue
		}
		compared[path] = true
		if tileStart(t) < c.minIndex {
			c.compareStraddling(where, t)
			continue
		}
		want, err := tlog.ReadTileData(t, c.leafMemory())
		if err != nil {
			c.failf("%s: rebuilding %s: %v", where, path, err)
			continue
		}
		served, err := c.servedTile(t)
		if err != nil {
			c.failf("%s: %v", where, err)
			continue
		}
		if !bytes.Equal(served, want) {
			c.failf("%s: served %s (%d bytes) differs from the tile rebuilt from the leaves (%d bytes)%s", where, path, len(served), len(want), firstDifference(served, want))
			continue
		}
		c.tilesCompared++
	}
	// An older size's partial entry bundle is a prefix of the latest leaves.
	if width := cp.Size % tileWidth; width != 0 && cp.Size != c.latest.Size {
		bundle := tlog.Tile{H: tileHeight, L: -1, N: cp.Size / tileWidth, W: int(width)}
		data, err := c.servedTile(bundle)
		if err != nil {
			c.failf("%s: %v", where, err)
		} else if want := encodeBundle(c.leaves[bundle.N*tileWidth-c.minIndex : cp.Size-c.minIndex]); !bytes.Equal(data, want) {
			c.failf("%s: served %s differs from the latest tree's leaves%s", where, c2spPath(bundle), firstDifference(data, want))
		} else {
			c.bundlesCompared++
		}
	}

	// The root from the served tiles, the way a Go tiles client authenticates them.
	fromTiles, err := tlog.TreeHash(cp.Size, c.tileHashReader(cp))
	if err != nil {
		c.failf("%s: tlog.TreeHash over tlog.TileHashReader: %v", where, err)
	} else if fromTiles != cp.Root {
		c.failf("%s: root %v, the tiles give %v", where, cp.Root, fromTiles)
	}

	// Go's own proof that the latest tree extends this one.
	if cp.Size < c.latest.Size {
		proof, err := tlog.ProveTree(c.latest.Size, cp.Size, c.tileHashReader(c.latest))
		if err != nil {
			c.failf("%s: tlog.ProveTree(%d, %d): %v", where, c.latest.Size, cp.Size, err)
		} else if err := tlog.CheckTree(proof, c.latest.Size, c.latest.Root, cp.Size, cp.Root); err != nil {
			c.failf("%s: not a prefix of the latest tree (size %d): %v", where, c.latest.Size, err)
		}
	}
}

// compareStraddling compares a hash tile that spans the minimum index (a level-1 or higher
// tile whose first hashes are of pruned leaves) in the hashes of subtrees at or above it:
// the others cannot be rebuilt from the leaves, and are authenticated by the signed roots
// through tlog.TileHashReader only.
func (c *checker) compareStraddling(where string, t tlog.Tile) {
	path := c2spPath(t)
	span := int64(1) << (uint(t.L) * tileHeight) // leaves under one hash of this tile
	first := int((c.minIndex - tileStart(t) + span - 1) / span)
	if first >= t.W {
		c.tilesUncompared++
		return
	}
	served, err := c.servedTile(t)
	if err != nil {
		c.failf("%s: %v", where, err)
		return
	}
	if len(served) != t.W*tlog.HashSize {
		c.failf("%s: served %s has %d bytes, want %d", where, path, len(served), t.W*tlog.HashSize)
		return
	}
	for k := first; k < t.W; k++ {
		index := tlog.StoredHashIndex(t.L*tileHeight, t.N<<tileHeight+int64(k))
		own, err := c.leafMemory().ReadHashes([]int64{index})
		if err != nil {
			c.failf("%s: rebuilding hash %d of %s: %v", where, k, path, err)
			return
		}
		if !bytes.Equal(served[k*tlog.HashSize:(k+1)*tlog.HashSize], own[0][:]) {
			c.failf("%s: served %s differs from the tile rebuilt from the leaves, first at byte %d (hash %d)", where, path, k*tlog.HashSize, k)
			return
		}
	}
	c.tilesStraddling++
}

func firstDifference(a, b []byte) string {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return fmt.Sprintf(", first at byte %d (hash %d)", i, i/tlog.HashSize)
		}
	}
	return ""
}

func (c *checker) checkInclusion(i int, p inclusionProof) {
	where := fmt.Sprintf("inclusion proof %d (event %s, seq %d, tree %d)", i, p.ID, p.Seq, p.TreeSize)
	cp, err := c.openCheckpoint(p.Checkpoint)
	if err != nil {
		c.failf("%s: its checkpoint: %v", where, err)
		return
	}
	if cp.Size != p.TreeSize {
		c.failf("%s: its checkpoint has size %d", where, cp.Size)
		return
	}
	if p.LeafIndex != p.Seq-1 || p.LeafIndex < 0 || p.LeafIndex >= p.TreeSize {
		c.failf("%s: leaf index %d is not seq - 1 within the tree", where, p.LeafIndex)
		return
	}
	leaf, err := base64.StdEncoding.Strict().DecodeString(p.LeafData)
	if err != nil {
		c.failf("%s: leaf_data is not standard base64: %v", where, err)
		return
	}
	leafHash := tlog.RecordHash(leaf)
	if hex.EncodeToString(leafHash[:]) != p.LeafHash {
		c.failf("%s: leaf_hash %s, tlog.RecordHash(leaf_data) = %x", where, p.LeafHash, leafHash[:])
	}
	if p.LeafIndex < c.minIndex {
		c.failf("%s: leaf %d is below the minimum index %d", where, p.LeafIndex, c.minIndex)
		return
	}
	if read, ok := c.leaf(p.LeafIndex); ok && !bytes.Equal(read, leaf) {
		c.failf("%s: leaf_data differs from entry %d of the entry bundles", where, p.LeafIndex)
	}
	proof, err := decodeHashes(p.Inclusion)
	if err != nil {
		c.failf("%s: %v", where, err)
		return
	}
	if err := tlog.CheckRecord(proof, cp.Size, cp.Root, p.LeafIndex, leafHash); err != nil {
		c.failf("%s: tlog.CheckRecord: %v", where, err)
		return
	}
	own, err := tlog.ProveRecord(cp.Size, p.LeafIndex, c.tileHashReader(cp))
	if err != nil {
		c.failf("%s: tlog.ProveRecord: %v", where, err)
		return
	}
	if diff := sameHashes(proof, own); diff != "" {
		c.failf("%s: differs from tlog.ProveRecord: %s", where, diff)
		return
	}
	c.inclusionOK++
}

func (c *checker) checkConsistency(i int, p consistencyProof) {
	where := fmt.Sprintf("consistency proof %d (from %d to %d)", i, p.From, p.To)
	old, okOld := c.signed[p.From]
	now, okNew := c.signed[p.To]
	if !okOld || !okNew {
		c.failf("%s: no verified checkpoint of size %d and %d in the input", where, p.From, p.To)
		return
	}
	proof, err := decodeHashes(p.Proof)
	if err != nil {
		c.failf("%s: %v", where, err)
		return
	}
	if err := tlog.CheckTree(proof, now.Size, now.Root, old.Size, old.Root); err != nil {
		c.failf("%s: tlog.CheckTree: %v", where, err)
		return
	}
	if old.Size < c.minIndex {
		c.checkOnlyOK++ // Go's own tlog.ProveTree from it would need pruned tiles
		return
	}
	own, err := tlog.ProveTree(now.Size, old.Size, c.tileHashReader(now))
	if err != nil {
		c.failf("%s: tlog.ProveTree: %v", where, err)
		return
	}
	if diff := sameHashes(proof, own); diff != "" {
		c.failf("%s: differs from tlog.ProveTree: %s", where, diff)
		return
	}
	c.consistencyOK++
}

// checkPruning checks what the log says of its pruning: /key's minimum index, its prune
// anchor (a note signed by the log's key), and the checkpoint's Trailmark-Min-Index header.
// The checkpoint the anchor was signed under joins the signed sizes.
func (c *checker) checkPruning(key string, checkpointHeader http.Header) {
	if got := checkpointHeader.Get("Trailmark-Min-Index"); got != strconv.FormatInt(c.minIndex, 10) {
		c.failf("the latest checkpoint's Trailmark-Min-Index header is %q, want %d", got, c.minIndex)
	}
	body, err := c.get("key")
	if err != nil {
		c.fatal("the log's key: %v", err)
	}
	var published logKey
	if err := json.Unmarshal(body, &published); err != nil {
		c.fatal("the log's key: %v: %.300s", err, body)
	}
	if published.VerifierKey != key || published.Origin != c.origin {
		c.failf("/key publishes %q for %q, but the verifier key pinned is %q", published.VerifierKey, published.Origin, key)
	}
	if published.MinIndex == nil {
		c.fatal("/key has no min_index, want %d", c.minIndex)
	}
	if *published.MinIndex != c.minIndex {
		c.fatal("/key says min_index %d, want %d", *published.MinIndex, c.minIndex)
	}
	if published.PruneAnchor == nil {
		c.fatal("/key has no prune_anchor for the minimum index %d", c.minIndex)
	}
	opened, err := note.Open([]byte(*published.PruneAnchor), c.verifiers)
	if err != nil {
		c.fatal("the prune anchor is not signed by the given key: %v", err)
	}
	// <origin>, "prune anchor", <min index>, <prev_hash hex>, <checkpoint size>, <root>
	lines := strings.Split(strings.TrimSuffix(opened.Text, "\n"), "\n")
	if !strings.HasSuffix(opened.Text, "\n") || len(lines) != 6 || lines[1] != "prune anchor" {
		c.fatal("the prune anchor's body is not six lines, the second `prune anchor`: %q", opened.Text)
	}
	if lines[0] != c.origin {
		c.failf("the prune anchor's origin is %q, want %q", lines[0], c.origin)
	}
	if lines[2] != strconv.FormatInt(c.minIndex, 10) {
		c.failf("the prune anchor moves the minimum index to %q, want %d", lines[2], c.minIndex)
	}
	if raw, err := hex.DecodeString(lines[3]); err != nil || len(raw) != sha256.Size || hex.EncodeToString(raw) != lines[3] {
		c.failf("the prune anchor's prev_hash %q is not 64 lower-case hex digits", lines[3])
	}
	if !decimal.MatchString(lines[4]) {
		c.fatal("the prune anchor's checkpoint size %q is not a canonical decimal", lines[4])
	}
	size, err := strconv.ParseInt(lines[4], 10, 64)
	if err != nil || size < c.minIndex {
		c.fatal("the prune anchor's checkpoint size %q is not at least the minimum index %d", lines[4], c.minIndex)
	}
	root, err := decodeHash(lines[5])
	if err != nil {
		c.fatal("the prune anchor's checkpoint root: %v", err)
	}
	c.anchorSize = size
	c.record(checkpoint{Origin: lines[0], Size: size, Root: root}, "the prune anchor's checkpoint")
}

// proveRecords proves each listed leaf, read from the entry bundles, in every signed tree
// that holds it, with Go's own proofs over the served tiles.
func (c *checker) proveRecords(leaves []int64, sizes []int64) {
	for _, index := range leaves {
		where := fmt.Sprintf("leaf %d", index)
		leaf, ok := c.leaf(index)
		if !ok {
			c.failf("%s: not among the leaves served, %d to %d", where, c.minIndex, c.latest.Size-1)
			continue
		}
		hash := tlog.RecordHash(leaf)
		proved := 0
		for _, size := range sizes {
			if size <= index || size < c.minIndex {
				continue
			}
			cp := c.signed[size]
			proof, err := tlog.ProveRecord(cp.Size, index, c.tileHashReader(cp))
			if err != nil {
				c.failf("%s in the tree of size %d: tlog.ProveRecord: %v", where, cp.Size, err)
				continue
			}
			if err := tlog.CheckRecord(proof, cp.Size, cp.Root, index, hash); err != nil {
				c.failf("%s in the tree of size %d: tlog.CheckRecord: %v", where, cp.Size, err)
				continue
			}
			proved++
		}
		if proved == 0 {
			c.failf("%s: no signed tree to prove it in", where)
		}
		c.recordsOK += proved
	}
}

func usage(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "gocheck: "+format+"\n", args...)
	flag.Usage()
	os.Exit(2)
}

func main() {
	base := flag.String("base", "", "the log's URL prefix, e.g. http://127.0.0.1:8000/api/v1/logs/acme/")
	token := flag.String("token", "", "bearer token (API key with audits:read)")
	key := flag.String("key", "", "the log's verifier key, <name>+<hex8>+<base64>")
	publicKey := flag.String("public-key", "", "optional: the raw Ed25519 public key (base64) pinned out of band; -key must be the verifier key Go derives from it")
	origin := flag.String("origin", "", "the expected origin (default: the key's name)")
	inputFile := flag.String("input", "", "JSON file of checkpoints and proofs to check")
	minIndex := flag.Int64("min-index", 0, "the minimum index of a pruned log (a multiple of 256): nothing wholly below it is read")
	flag.Parse()
	if *base == "" || *key == "" || *inputFile == "" || flag.NArg() != 0 {
		usage("-base, -key and -input are required")
	}
	if *minIndex < 0 || *minIndex%tileWidth != 0 {
		usage("-min-index must be a non-negative multiple of %d", tileWidth)
	}
	if !strings.HasSuffix(*base, "/") {
		*base += "/"
	}

	c := &checker{
		base:   *base,
		token:  *token,
		http:   &http.Client{Timeout: 30 * time.Second},
		tiles:  map[string][]byte{},
		signed: map[int64]checkpoint{},

		minIndex:   *minIndex,
		storedBase: tlog.StoredHashCount(*minIndex),
		requested:  map[string]bool{},
	}

	verifier, err := note.NewVerifier(*key)
	if err != nil {
		c.fatal("note.NewVerifier(%q): %v", *key, err)
	}
	c.verifiers = note.VerifierList(verifier)
	c.origin = verifier.Name()
	if *origin != "" && *origin != c.origin {
		c.fatal("the verifier key's name is %q, want the origin %q", c.origin, *origin)
	}
	if *publicKey != "" {
		raw, err := base64.StdEncoding.Strict().DecodeString(*publicKey)
		if err != nil || len(raw) != 32 {
			usage("-public-key must be the base64 of 32 bytes")
		}
		own, err := note.NewEd25519VerifierKey(c.origin, raw)
		if err != nil {
			c.fatal("note.NewEd25519VerifierKey: %v", err)
		}
		if own != *key {
			c.fatal("verifier key %q, but note.NewEd25519VerifierKey gives %q for that public key", *key, own)
		}
	}

	text, err := os.ReadFile(*inputFile)
	if err != nil {
		usage("%v", err)
	}
	var in input
	if err := json.Unmarshal(text, &in); err != nil {
		usage("%s: %v", *inputFile, err)
	}

	body, header, err := c.fetch("checkpoint")
	if err != nil {
		c.fatal("latest checkpoint: %v", err)
	}
	c.latest, err = c.openCheckpoint(string(body))
	if err != nil {
		c.fatal("latest checkpoint: %v", err)
	}
	c.record(c.latest, "latest checkpoint")
	if c.minIndex > c.latest.Size {
		c.fatal("the minimum index %d is beyond the latest checkpoint (size %d)", c.minIndex, c.latest.Size)
	}
	if c.minIndex > 0 {
		c.checkPruning(*key, header)
	} else if len(in.Leaves) > 0 {
		usage("\"leaves\" in the input needs -min-index")
	}
	for i, text := range in.Checkpoints {
		cp, err := c.openCheckpoint(text)
		if err != nil {
			c.failf("input checkpoint %d: %v", i, err)
			continue
		}
		c.record(cp, fmt.Sprintf("input checkpoint %d", i))
	}
	for i, p := range in.Inclusion {
		if cp, err := c.openCheckpoint(p.Checkpoint); err == nil {
			c.record(cp, fmt.Sprintf("checkpoint of inclusion proof %d", i))
		}
	}
	for size := range c.signed {
		if size > c.latest.Size {
			c.failf("a signed checkpoint of size %d is newer than the latest (%d)", size, c.latest.Size)
		}
	}
	if len(c.failures) > 0 {
		c.report()
	}

	c.readLeaves()
	sizes := make([]int64, 0, len(c.signed))
	for size := range c.signed {
		sizes = append(sizes, size)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	compared := map[string]bool{}
	for _, size := range sizes {
		c.checkSize(c.signed[size], compared)
	}
	for i, p := range in.Inclusion {
		c.checkInclusion(i, p)
	}
	for i, p := range in.Consistency {
		c.checkConsistency(i, p)
	}
	if c.minIndex > 0 {
		c.proveRecords(in.Leaves, sizes)
	}
	if len(in.Inclusion) == 0 && len(in.Consistency) == 0 {
		c.failf("the input has no proofs to check")
	}
	c.report()

	fmt.Printf("ok: %s size %d root %v; %d signed sizes %v; %d hash tiles and %d entry bundles match the leaves; "+
		"%d inclusion and %d consistency proofs verify and equal Go's own; %d HTTP requests\n",
		c.latest.Origin, c.latest.Size, c.latest.Root, len(sizes), sizes, c.tilesCompared, c.bundlesCompared,
		c.inclusionOK, c.consistencyOK, c.requests)
	if c.minIndex > 0 {
		requested := make([]string, 0, len(c.requested))
		for path := range c.requested {
			requested = append(requested, path)
		}
		sort.Strings(requested)
		fmt.Printf("pruned: minimum index %d, prune anchor verified (under size %d); %d sizes below it verified by signature only, "+
			"%d consistency proofs from them with tlog.CheckTree; %d record proofs of %d leaves from the entry bundles; "+
			"%d hashes below it read through tlog.TileHashReader; %d tiles straddling it compared above it, %d wholly of pruned leaves; "+
			"no tile below it read; tiles read: %s\n",
			c.minIndex, c.anchorSize, c.sizesBelow, c.checkOnlyOK, c.recordsOK, len(in.Leaves),
			c.hashesBelow, c.tilesStraddling, c.tilesUncompared, strings.Join(requested, " "))
	}
}
