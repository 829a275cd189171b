"""The git operations sandboxes need, run with the ``git`` command line.

Production's tenant directory is a git repository; a sandbox is a branch
``sandbox/<name>`` checked out as a worktree. Commits are authored by the acting
``CDP_USER``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

BRANCH_PREFIX = "sandbox/"


class GitError(RuntimeError):
    """A git command failed; the message has the command, the directory and git's output."""


class MergeConflict(GitError):
    """A merge stopped on conflicting files (``files``)."""

    def __init__(self, message: str, files: list[str]) -> None:
        super().__init__(message)
        self.files = files


class Repo:
    """A git working tree at ``path``, acting for ``user``."""

    def __init__(self, path: str | Path, user: str = "cdp") -> None:
        self.path = Path(path)
        self.user = user

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # Commits carry the acting CDP user, not whoever configured git on the machine.
        email = f"{self.user}@users.cdp.invalid"
        env.update(GIT_AUTHOR_NAME=self.user, GIT_AUTHOR_EMAIL=email,
                   GIT_COMMITTER_NAME=self.user, GIT_COMMITTER_EMAIL=email,
                   GIT_TERMINAL_PROMPT="0")
        return env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True,
                              text=True, env=self._env())
        if check and proc.returncode != 0:
            raise GitError(f"git {' '.join(args)} in {self.path} failed "
                           f"({proc.returncode}): {(proc.stderr or proc.stdout).strip()}")
        return proc

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def toplevel(self) -> Path | None:
        proc = self.run("rev-parse", "--show-toplevel", check=False)
        return Path(proc.stdout.strip()).resolve() if proc.returncode == 0 else None

    def init(self, message: str) -> str:
        self.run("init", "--quiet", "--initial-branch=main")
        self.run("add", "--all")
        self.run("commit", "--quiet", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.out("rev-parse", "HEAD")

    def branch(self) -> str:
        name = self.out("rev-parse", "--abbrev-ref", "HEAD")
        if name == "HEAD":
            raise GitError(f"{self.path} has no branch checked out (detached HEAD): check out "
                           "production's branch first")
        return name

    def rev(self, ref: str) -> str:
        return self.out("rev-parse", "--verify", f"{ref}^{{commit}}")

    def dirty_files(self) -> list[str]:
        lines = self.out("status", "--porcelain", "--untracked-files=all").splitlines()
        return [line[3:] for line in lines if line.strip()]

    def commit_all(self, message: str) -> str | None:
        """Commit every change of the working tree; the new commit, or None if clean."""
        if not self.dirty_files():
            return None
        self.run("add", "--all")
        self.run("commit", "--quiet", "-m", message)
        return self.head()

    def count(self, range_: str) -> int:
        return int(self.out("rev-list", "--count", range_))

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.run("merge-base", "--is-ancestor", ancestor, descendant,
                        check=False).returncode == 0

    def merge(self, ref: str, message: str, no_ff: bool = False) -> str:
        """Merge ``ref`` into the checked-out branch; on conflict abort and raise."""
        args = ["merge", "--no-edit", "-m", message, *(["--no-ff"] if no_ff else []), ref]
        proc = self.run(*args, check=False)
        if proc.returncode != 0:
            conflicted = self.out("diff", "--name-only", "--diff-filter=U").splitlines()
            if conflicted:
                self.run("merge", "--abort")
                raise MergeConflict(f"merging {ref} into {self.path} conflicts in "
                                    f"{', '.join(conflicted)}", conflicted)
            raise GitError(f"git merge {ref} in {self.path} failed: "
                           f"{(proc.stderr or proc.stdout).strip()}")
        return self.head()

    def worktree_add(self, path: Path, branch: str, start: str) -> None:
        self.run("worktree", "add", "--quiet", "-b", branch, str(path), start)

    def worktree_remove(self, path: Path) -> None:
        self.run("worktree", "remove", "--force", str(path), check=False)
        self.run("worktree", "prune")

    def delete_branch(self, branch: str) -> None:
        if self.run("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}",
                    check=False).returncode == 0:
            self.run("branch", "-D", branch)

    def diff(self, base: str, stat: bool = False) -> str:
        """Diff from ``base`` to the working tree, new untracked files included.

        A throwaway index holds the working tree so the real index is left alone.
        """
        index = self.path / ".." / f".cdp-diff-index-{os.getpid()}"
        env = {**self._env(), "GIT_INDEX_FILE": str(index.resolve())}
        try:
            for args in (["add", "--all"], ["diff", "--cached", *(["--stat"] if stat else []),
                                             base]):
                proc = subprocess.run(["git", "-C", str(self.path), *args],
                                      capture_output=True, text=True, env=env)
                if proc.returncode != 0:
                    raise GitError(f"git {' '.join(args)} in {self.path} failed: "
                                   f"{proc.stderr.strip()}")
            return proc.stdout
        finally:
            index.unlink(missing_ok=True)
