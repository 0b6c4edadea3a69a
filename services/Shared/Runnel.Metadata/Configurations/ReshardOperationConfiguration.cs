using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Runnel.Metadata.Entities;

namespace Runnel.Metadata.Configurations;

internal sealed class ReshardOperationConfiguration : IEntityTypeConfiguration<ReshardOperationEntity>
{
    public void Configure(EntityTypeBuilder<ReshardOperationEntity> b)
    {
        b.ToTable("reshard_operations");
        b.HasKey(o => o.Id);
        b.Property(o => o.Kind).HasMaxLength(32);
        b.Property(o => o.Step).HasMaxLength(16);
        b.HasIndex(o => o.Step);
        b.HasIndex(o => o.StreamId);
        b.Property(o => o.Version).IsConcurrencyToken();
        // An operation dies with its stream: a deleted stream has nothing left to reshard.
        b.HasOne<StreamEntity>().WithMany().HasForeignKey(o => o.StreamId).OnDelete(DeleteBehavior.Cascade);
    }
}
