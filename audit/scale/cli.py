"""`audit scale …`: the same audits on Spark over sharded parquet (`--master local[2]`, spark://…, yarn, k8s://…)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from audit import config
from audit.cli_renames import renamed

app = typer.Typer(no_args_is_help=True, help="Run the same audits on Spark over sharded parquet.")
MasterOpt = typer.Option("local[2]", "--master", help="Spark master URL: local[N], spark://host:7077, yarn, k8s://…")
PartsOpt = typer.Option(8, "--shuffle-partitions", help="spark.sql.shuffle.partitions")


def _spark(master: str, partitions: int, name: str):
    from audit.scale.session import spark_session

    return spark_session(master, f"genaudit-{name}", shuffle_partitions=partitions)


@app.command("hash", cls=renamed({"--tombstones": "--removal-db"}))
def hash_(src: Path = typer.Argument(..., help="img2dataset folder (NNNNN.parquet + NNNNN/<key>.<ext>) or folder of webdataset .tar"),
          out: Path = typer.Option(..., help="output parquet folder (one part file per partition)"),
          max_side: int = typer.Option(512, help="same as `audit dataset ingest --max-side`"),
          keep_duplicates: bool = typer.Option(False, help="same as `audit dataset ingest --keep-duplicates`"),
          tombstones: Optional[Path] = typer.Option(None, "--removal-db", envvar=config.ENV_REMOVAL_DB,
                                                    help="removal requests.db: refuse images erased on request"),
          master: str = MasterOpt, shuffle_partitions: int = PartsOpt) -> None:
    """sha256 + pHash of every shard row's image as `audit dataset ingest` stores it; duplicates and erased images skipped."""
    from audit.scale.images import write_hashes

    c = write_hashes(_spark(master, shuffle_partitions, "hash"), src, out, max_side=max_side, tombstones=tombstones,
                     keep_duplicates=keep_duplicates)
    typer.echo(f"hashed {c['hashed']} rows, {c['errors']} not hashed (see the error column); skipped "
               f"{c['duplicates']} exact duplicates, {c['erased']} erased on request (see the skipped column) -> {out}")


@app.command("export-registry")
def export_registry_(registry: Path = typer.Option(..., "--registry", help="SQLite registry"),
                     out: Path = typer.Option(..., help="registry.parquet to ship to the cluster")) -> None:
    """Write the active registry entries to parquet (executors read this, never the SQLite file)."""
    from audit.scale.optout import export_registry

    export_registry(registry, out)
    typer.echo(f"exported -> {out}")


@app.command("optout-check")
def optout_check(manifest: Path = typer.Argument(..., help="manifest parquet file or folder of shards"),
                 registry: Path = typer.Option(..., "--registry", help="registry.parquet (or the SQLite file)"),
                 out: Path = typer.Option(..., help="matches: parquet folder, or one file with --single-file"),
                 max_distance: int = typer.Option(8, help="perceptual-hash Hamming distance for near-duplicates"),
                 single_file: bool = typer.Option(False, help="collect into one sorted file like `audit optout check`"),
                 master: str = MasterOpt, shuffle_partitions: int = PartsOpt) -> None:
    """`audit optout check` on Spark: same rules, same output columns."""
    from audit.scale.optout import check

    counts = check(_spark(master, shuffle_partitions, "optout"), manifest, registry, out, max_distance=max_distance,
                   single_file=single_file)
    typer.echo(f"{counts['rows_covered']} rows covered, {counts['matches']} matches, "
               f"{counts['malformed_urls']} malformed URLs -> {out}")


@app.command("locate")
def locate_(manifest: Path = typer.Argument(..., help="manifest parquet file or folder of shards"),
            sha256: list[str] = typer.Option([], "--sha256"), phash: list[str] = typer.Option([], "--phash"),
            url: list[str] = typer.Option([], "--url"), name: list[str] = typer.Option([], "--name"),
            max_distance: int = typer.Option(8, help="perceptual-hash Hamming distance"),
            out: Optional[Path] = typer.Option(None, help="write the hits to this parquet file"),
            master: str = MasterOpt, shuffle_partitions: int = PartsOpt) -> None:
    """Which rows in which shards a removal request covers (by sha256, pHash, URL or name)."""
    from audit.scale.locate import locate, request_frame

    req = request_frame(sha256=sha256, phash=phash, url=url, name=name)
    hits = locate(_spark(master, shuffle_partitions, "locate"), manifest, req, max_distance=max_distance)
    if out:
        from audit.atomic import write_parquet

        write_parquet(hits, out)
    typer.echo(f"{hits['key'].nunique()} items in {hits['shard'].nunique()} shards" + (f" -> {out}" if out else ""))
    for r in hits.head(50).itertuples():
        typer.echo(f"  {r.key}\t{r.rule}\t{Path(str(r.shard)).name}\t{r.reason}")


@app.command("index-build")
def index_build(source: Path = typer.Argument(..., help="dataset dir or manifest.parquet"),
                out: Path = typer.Option(..., help="index dir (same layout as `audit index build`)"),
                model: Optional[str] = typer.Option(None, help="embedder name (default: the shipped tiny CLIP)"),
                factory: Optional[str] = typer.Option(None, help="faiss factory, e.g. IVF1024,SQ8 (default: auto)"),
                overwrite: bool = False, master: str = MasterOpt, shuffle_partitions: int = PartsOpt) -> None:
    """Embed + hash on executors, train/fill faiss on the driver; `audit search` loads the result."""
    from audit.scale.index import build_index_spark

    meta = build_index_spark(_spark(master, shuffle_partitions, "index"), source, out, model=model, factory=factory,
                             overwrite=overwrite)
    typer.echo(f"index {out}: {meta['count']} vectors, {meta['factory']}, skipped {meta['skipped_count']}")
    typer.echo("  " + json.dumps({"model": meta.get("model_name", meta.get("name")), "engine": meta.get("engine", "local")}))
